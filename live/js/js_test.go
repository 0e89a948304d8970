package js_test

import (
	"encoding/json"
	"errors"
	"html/template"
	"strings"
	"testing"
	"time"

	"github.com/parley-go/parley/live/diff"
	"github.com/parley-go/parley/live/js"
	"github.com/parley-go/parley/live/render"
)

// The expected strings are upstream's: the "encoding" tests of
// test/phoenix_live_view/js_test.exs (phoenix_live_view v1.2.10), which
// encode Phoenix.LiveView.JS ops with sorted keys, and, for the commands
// that file checks only as terms, the terms of the same file written out
// as JSON with sorted keys (Elixir's small maps are sorted, as Go's
// encoding/json sorts map keys).
func TestUpstreamEncoding(t *testing.T) {
	cases := []struct {
		name string
		cmd  js.Cmd
		want string
	}{
		{"push value", js.Push("inc", js.PushOpts{Value: map[string]any{"one": 1, "two": 2}}),
			`[["push",{"event":"inc","value":{"one":1,"two":2}}]]`},
		{"push defaults", js.Push("inc"), `[["push",{"event":"inc"}]]`},
		{"push target selector", js.Push("inc", js.PushOpts{Target: "#modal"}), `[["push",{"event":"inc","target":"#modal"}]]`},
		{"push target cid", js.Push("inc", js.PushOpts{Target: 1}), `[["push",{"event":"inc","target":1}]]`},
		{"push loading", js.Push("inc", js.PushOpts{Loading: "#modal"}), `[["push",{"event":"inc","loading":"#modal"}]]`},
		{"push page_loading", js.Push("inc", js.PushOpts{PageLoading: true}), `[["push",{"event":"inc","page_loading":true}]]`},
		{"push composed", js.Push("inc").Push("dec", js.PushOpts{Loading: ".foo"}),
			`[["push",{"event":"inc"}],["push",{"event":"dec","loading":".foo"}]]`},
		{"navigate", js.Navigate("/home"), `[["navigate",{"href":"/home","replace":false}]]`},
		{"navigate replace", js.Navigate("/home", js.NavOpts{Replace: true}), `[["navigate",{"href":"/home","replace":true}]]`},
		{"patch", js.Patch("/home"), `[["patch",{"href":"/home","replace":false}]]`},
		{"add_class", js.AddClass("show"), `[["add_class",{"names":["show"]}]]`},
		{"add_class closest", js.AddClass("show", js.ClassOpts{To: "a", Scope: js.Closest}), `[["add_class",{"names":["show"],"to":{"closest":"a"}}]]`},
		{"remove_class", js.RemoveClass("show"), `[["remove_class",{"names":["show"]}]]`},
		{"remove_class inner", js.RemoveClass("show", js.ClassOpts{To: "a", Scope: js.Inner}), `[["remove_class",{"names":["show"],"to":{"inner":"a"}}]]`},
		{"toggle_class", js.ToggleClass("show"), `[["toggle_class",{"names":["show"]}]]`},
		{"multiple ops", js.Push("inc", js.PushOpts{Value: map[string]any{"one": 1, "two": 2}}).
			AddClass("show", js.ClassOpts{To: "#modal", Time: 100 * time.Millisecond}).RemoveClass("hidden"),
			`[["push",{"event":"inc","value":{"one":1,"two":2}}],["add_class",{"names":["show"],"time":100,"to":"#modal"}],["remove_class",{"names":["hidden"]}]]`},
		{"class transition", js.AddClass("show", js.ClassOpts{Transition: js.Transition{"fade-in", "fade-in-start", "fade-in-end"}}),
			`[["add_class",{"names":["show"],"transition":[["fade-in"],["fade-in-start"],["fade-in-end"]]}]]`},
		{"dispatch", js.Dispatch("click", js.DispatchOpts{To: ".foo"}), `[["dispatch",{"event":"click","to":".foo"}]]`},
		{"dispatch detail", js.Dispatch("myevent", js.DispatchOpts{Detail: map[string]any{"id": 123}}), `[["dispatch",{"detail":{"id":123},"event":"myevent"}]]`},
		{"dispatch no bubble", js.Dispatch("myevent", js.DispatchOpts{NoBubble: true}), `[["dispatch",{"bubbles":false,"event":"myevent"}]]`},
		{"dispatch blocking", js.Dispatch("myevent", js.DispatchOpts{Blocking: true}), `[["dispatch",{"blocking":true,"event":"myevent"}]]`},
		{"toggle", js.Toggle(js.ToggleOpts{To: "#modal"}), `[["toggle",{"to":"#modal"}]]`},
		{"toggle closest", js.Toggle(js.ToggleOpts{To: ".modal", Scope: js.Closest}), `[["toggle",{"to":{"closest":".modal"}}]]`},
		{"toggle time", js.Toggle(js.ToggleOpts{To: "#modal", Time: 123 * time.Millisecond}), `[["toggle",{"time":123,"to":"#modal"}]]`},
		{"toggle display", js.Toggle(js.ToggleOpts{To: "#modal", Display: "block"}), `[["toggle",{"display":"block","to":"#modal"}]]`},
		{"toggle transitions", js.Toggle(js.ToggleOpts{To: "#modal", In: js.Transition{Classes: "fade-in"}, Out: js.Transition{Classes: "fade-out"}}),
			`[["toggle",{"ins":[["fade-in"],[],[]],"outs":[["fade-out"],[],[]],"to":"#modal"}]]`},
		{"toggle composed", js.Toggle(js.ToggleOpts{To: "#modal"}).Toggle(js.ToggleOpts{To: "#keyboard", Time: 123 * time.Millisecond}),
			`[["toggle",{"to":"#modal"}],["toggle",{"time":123,"to":"#keyboard"}]]`},
		{"show", js.Show(js.ShowOpts{To: "#modal"}), `[["show",{"to":"#modal"}]]`},
		{"show inner", js.Show(js.ShowOpts{To: ".modal", Scope: js.Inner}), `[["show",{"to":{"inner":".modal"}}]]`},
		{"show transition", js.Show(js.ShowOpts{To: "#modal", Transition: js.Transition{Classes: "fade-in fast"}, Display: "flex", Blocking: true}),
			`[["show",{"blocking":true,"display":"flex","to":"#modal","transition":[["fade-in","fast"],[],[]]}]]`},
		{"hide", js.Hide(js.HideOpts{To: "#modal"}), `[["hide",{"to":"#modal"}]]`},
		{"hide closest", js.Hide(js.HideOpts{To: "a", Scope: js.Closest}), `[["hide",{"to":{"closest":"a"}}]]`},
		{"transition", js.TransitionTo(js.Transition{Classes: "shake"}, js.ClassOpts{To: "#modal"}), `[["transition",{"to":"#modal","transition":[["shake"],[],[]]}]]`},
		{"set_attr", js.SetAttribute("disabled", "true"), `[["set_attr",{"attr":["disabled","true"]}]]`},
		{"set_attr to", js.SetAttribute("aria-expanded", "true", js.Target{To: "#dropdown"}), `[["set_attr",{"attr":["aria-expanded","true"],"to":"#dropdown"}]]`},
		{"remove_attr", js.RemoveAttribute("disabled"), `[["remove_attr",{"attr":"disabled"}]]`},
		{"toggle_attr", js.ToggleAttribute("disabled", "true"), `[["toggle_attr",{"attr":["disabled","true"]}]]`},
		{"toggle_attr between", js.ToggleAttributeBetween("aria-expanded", "true", "false"), `[["toggle_attr",{"attr":["aria-expanded","true","false"]}]]`},
		{"ignore_attrs", js.IgnoreAttributes([]string{"open"}), `[["ignore_attrs",{"attrs":["open"]}]]`},
		{"focus", js.Focus(), `[["focus",{}]]`},
		{"focus to", js.Focus(js.Target{To: "#input"}), `[["focus",{"to":"#input"}]]`},
		{"focus_first", js.FocusFirst(), `[["focus_first",{}]]`},
		{"push_focus", js.PushFocus(), `[["push_focus",{}]]`},
		{"pop_focus", js.PopFocus(), `[["pop_focus",{}]]`},
		{"exec", js.Exec("phx-remove"), `[["exec",{"attr":"phx-remove"}]]`},
		{"exec to", js.Exec("phx-remove", js.Target{To: "#modal"}), `[["exec",{"attr":"phx-remove","to":"#modal"}]]`},
		{"concat", js.Push("a").Concat(js.Hide(js.HideOpts{To: "#x"}), js.PopFocus()), `[["push",{"event":"a"}],["hide",{"to":"#x"}],["pop_focus",{}]]`},
		{"empty", js.Cmd{}, `[]`},
	}
	for _, c := range cases {
		if got := c.cmd.String(); got != c.want {
			t.Errorf("%s:\n got %s\nwant %s", c.name, got, c.want)
		}
		if err := c.cmd.Err(); err != nil {
			t.Errorf("%s: Err() = %v", c.name, err)
		}
	}
}

func TestChainDoesNotAlias(t *testing.T) {
	base := js.Push("a").Push("b")
	x := base.Hide(js.HideOpts{To: "#x"})
	y := base.Show(js.ShowOpts{To: "#y"})
	if got := x.String(); got != `[["push",{"event":"a"}],["push",{"event":"b"}],["hide",{"to":"#x"}]]` {
		t.Errorf("x = %s", got)
	}
	if got := y.String(); got != `[["push",{"event":"a"}],["push",{"event":"b"}],["show",{"to":"#y"}]]` {
		t.Errorf("y = %s", got)
	}
	if base.Len() != 2 {
		t.Errorf("base grew to %d", base.Len())
	}
}

func TestInvalidOptionsRecorded(t *testing.T) {
	if err := js.Dispatch("click", js.DispatchOpts{Detail: map[string]any{"a": 1}}).Err(); !errors.Is(err, js.ErrClickDetail) {
		t.Errorf("click detail: %v", err)
	}
	if err := js.Dispatch("x", js.DispatchOpts{Blocking: true, Detail: map[string]any{"done": 1}}).Err(); !errors.Is(err, js.ErrBlockingDone) {
		t.Errorf("blocking done: %v", err)
	}
	// the first error stays, through chaining and concatenation
	c := js.Show(js.ShowOpts{To: "#a", Scope: "nearest"}).Push("x")
	if err := js.Push("y").Concat(c).Err(); !errors.Is(err, js.ErrScope) {
		t.Errorf("scope: %v", err)
	}
	// a value that does not encode gives an empty list, never a panic
	bad := js.Push("x", js.PushOpts{Value: map[string]any{"ch": make(chan int)}})
	if got := bad.String(); got != "[]" {
		t.Errorf("unencodable = %s", got)
	}
	if _, err := json.Marshal(bad); err == nil {
		t.Error("json.Marshal of an unencodable Cmd succeeded")
	}
}

func TestJSONInsideEvents(t *testing.T) {
	b, err := json.Marshal(map[string]any{"js": js.Hide(js.HideOpts{To: "#a<b>"})})
	if err != nil {
		t.Fatal(err)
	}
	var back map[string][][]any
	if err := json.Unmarshal(b, &back); err != nil {
		t.Fatal(err)
	}
	if back["js"][0][0] != "hide" || back["js"][0][1].(map[string]any)["to"] != "#a<b>" {
		t.Errorf("round trip: %s", b)
	}
}

// In a template attribute the JSON is escaped by html/template like any
// value, and unescapes to the same JSON: the hostile selector cannot leave
// the attribute.
func TestTemplateAttributeEscaping(t *testing.T) {
	cmd := js.Push("save", js.PushOpts{Value: map[string]any{"q": `"><script>alert(1)</script>`}}).
		Toggle(js.ToggleOpts{To: `#m'x`})
	const src = `<button phx-click="{{.Cmd}}">x</button><a phx-click={{.Cmd}}>y</a>`
	std := template.Must(template.New("t").Parse(src))
	var want strings.Builder
	if err := std.Execute(&want, map[string]any{"Cmd": cmd}); err != nil {
		t.Fatal(err)
	}
	if strings.Contains(want.String(), "<script>") {
		t.Fatalf("unescaped: %s", want.String())
	}
	lt := render.Must(render.New("t").Parse(src))
	n, err := lt.Render(map[string]any{"Cmd": cmd}, nil)
	if err != nil {
		t.Fatal(err)
	}
	got, err := diff.HTML(n)
	if err != nil {
		t.Fatal(err)
	}
	if got != want.String() {
		t.Errorf("live/render output differs from html/template:\n got %s\nwant %s", got, want.String())
	}
	// the quoted attribute unescapes to the JSON
	start := strings.Index(got, `phx-click="`) + len(`phx-click="`)
	attr := got[start : start+strings.Index(got[start:], `"`)]
	if un := htmlUnescape(attr); un != cmd.String() {
		t.Errorf("attribute unescapes to %s, want %s", un, cmd.String())
	}
}

func htmlUnescape(s string) string {
	r := strings.NewReplacer("&#34;", `"`, "&#39;", "'", "&lt;", "<", "&gt;", ">", "&amp;", "&", "&#43;", "+")
	return r.Replace(s)
}
