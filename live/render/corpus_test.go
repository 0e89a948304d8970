package render

import (
	"bytes"
	"errors"
	"fmt"
	"html/template"
	"reflect"
	"strings"
	"testing"

	"github.com/parley-go/parley/live/diff"
)

type item struct {
	ID   int
	Name string
}

type user struct{ Name, Email string }

type row struct{ Cells []string }

type tree struct {
	Name string
	Kids []tree
}

// page is the data of the corpus: one field per context, plus lists,
// maps, typed content and methods.
type page struct {
	S, U, C, T string
	N          int
	B, Z       bool
	L          []string
	Map        map[string]int
	Items      []item
	User       *user
	Rows       []row
	H          template.HTML
	SafeURL    template.URL
	JS         template.JS
	CSS        template.CSS
	Attr       template.HTMLAttr
	JSStr      template.JSStr
	M          map[string]any
	Tree       tree
	Any        any
}

func (p page) Greeting() string          { return "hello " + p.S }
func (p *page) Method(arg string) string { return arg + "/" + p.T }

var testFuncs = template.FuncMap{
	"upper": strings.ToUpper,
	"join":  func(sep string, l []string) string { return strings.Join(l, sep) },
	"add":   func(a, b int) int { return a + b },
	"html2": func(s string) template.HTML { return template.HTML("<em>" + template.HTMLEscapeString(s) + "</em>") },
	"fail": func(b bool) (string, error) {
		if b {
			return "", errors.New("boom")
		}
		return "ok", nil
	},
	"dict": func(kv ...any) map[string]any {
		m := map[string]any{}
		for i := 0; i+1 < len(kv); i += 2 {
			m[kv[i].(string)] = kv[i+1]
		}
		return m
	},
}

// plainFuncs are testFuncs plus key, for html/template itself.
func plainFuncs() template.FuncMap {
	m := template.FuncMap{"key": keyStub}
	for k, v := range testFuncs {
		m[k] = v
	}
	return m
}

var pages = []any{
	&page{
		S: "Tom & Jerry <b>", U: "https://example.com/a b?c=d&e=<f>", C: "red", T: "t1", N: 1, B: true,
		L: []string{"a", "b", "c", "d", "e"}, Map: map[string]int{"x": 1, "y": 2},
		Items: []item{{1, "Milk"}, {2, "Eggs"}, {3, "Tea"}}, User: &user{"Ann", "ann@example.com"},
		Rows: []row{{[]string{"1", "2"}}, {[]string{"3"}}}, H: "<i>trusted</i>", SafeURL: "javascript:ok()",
		JS: "alert(1)", CSS: "color: blue", Attr: `data-x="1"`, JSStr: `a\"b`,
		M: map[string]any{"k": "v", "n": 3}, Tree: tree{"root", []tree{{"a", nil}, {"b", []tree{{"b1", nil}}}}},
		Any: []int{1, 2},
	},
	&page{
		S: `"><script>alert('x')</script>`, U: "javascript:alert(1)", C: "expression(alert(1))", T: "t2", N: 2,
		L: []string{"b", "a"}, Map: map[string]int{"y": 3}, Items: []item{{3, "Tea"}, {1, "Milk!"}, {4, "Jam"}},
		Rows: []row{{[]string{"x"}}}, H: "<b>bold</b>", SafeURL: "/ok?x=1", JS: "f()", CSS: "margin: 0",
		Attr: `title="t"`, JSStr: "s", M: map[string]any{"k": "<v>"}, Tree: tree{Name: "solo"}, Any: "str",
	},
	&page{
		S: "", U: "", C: "", N: 3, B: true, Z: true, L: nil, Items: nil, User: &user{Name: "</script><script>x()</script>"},
		Tree: tree{"r", []tree{{"k", []tree{{"k2", []tree{{"k3", nil}}}}}}}, Any: nil,
	},
	&page{S: "\u2028\u2029\x00\ufffd\ue000 ü 🙂", U: "//evil.com/\"'<>`", C: "url(javascript:x)", N: 0, B: true,
		L: []string{"d", "c", "b", "a"}, Items: []item{{1, "Milk"}, {2, "Eggs"}, {3, "Tea"}}, User: &user{}, Any: 42},
}

// corpus covers every context and construct. Each template runs against
// every entry of pages.
var corpus = []struct{ name, text string }{
	{"static", `<p>just text</p>`},
	{"empty-actions", `{{/* nothing */}}`},
	{"text", `<p>{{.S}}</p>`},
	{"text-many", `<p>{{.S}}{{.T}} and {{.N}}</p>{{.S}}`},
	{"attr-dq", `<a title="{{.S}}">x</a>`},
	{"attr-sq", `<a title='{{.S}}'>x</a>`},
	{"attr-unquoted", `<a title={{.S}}>x</a><input value={{.U}} class=c>`},
	{"attr-multi", `<p class="a {{.S}} b {{.C}}" id="p-{{.N}}">x</p>`},
	{"attr-name", `<p {{.Attr}} {{.S}}="v">x</p>`},
	{"data-attr", `<div data-x="{{.S}}" data-url="{{.U}}">x</div>`},
	{"url", `<a href="{{.U}}">x</a>`},
	{"url-parts", `<a href="/search?q={{.S}}&u={{.U}}#{{.T}}">x</a>`},
	{"url-unquoted", `<a href={{.U}}>x</a>`},
	{"url-typed", `<a href="{{.SafeURL}}">x</a><img src="{{.U}}" srcset="{{.S}} 2x">`},
	{"js-value", `<script>var s = {{.S}}; var n = {{.N}}; var m = {{.M}}; var l = {{.L}}; var u = {{.User}};</script>`},
	{"js-string", `<script>var s = "{{.S}}"; var t = '{{.S}}'; var j = "{{.JSStr}}";</script>`},
	{"js-template-literal", "<script>var s = `a${ {{.N}} }b{{.S}}c`;</script>"},
	{"js-regexp", `<script>var r = /{{.S}}/g; var d = 1 / {{.N}} / 2;</script>`},
	{"js-typed", `<script>{{.JS}}; var x = {{.H}};</script>`},
	{"js-handler", `<button onclick="f({{.S}}, '{{.S}}')" onmouseover='g({{.N}})'>x</button>`},
	{"js-comment", "<script>// {{.S}}\n/* {{.S}} */ var a = {{.N}};</script>"},
	{"css-attr", `<p style="color: {{.C}}; background: url({{.U}}); font-family: '{{.S}}'">x</p>`},
	{"css-block", `<style>p { color: {{.C}}; } q::before { content: "{{.S}}" } r { {{.CSS}} }</style>`},
	{"rcdata", `<textarea>{{.S}}</textarea><title>{{.S}} - {{.T}}</title>`},
	{"html-comment", `<!-- hidden {{.S}} -->x<!-- -->{{.T}}`},
	{"template-comments", "a{{/* c */}}b {{- /* trimmed */ -}} c\n{{- .S}}"},
	{"trim", "<p>\n  {{- .S -}}  \n  <b> {{- .T}} </b>  {{.N -}}  \n</p>"},
	{"predefined-escapers", `<p title="{{.S | html}}">{{.S | html}}</p><a href="/x?q={{.S | urlquery}}">x</a>`},
	{"typed-html", `<div>{{.H}}</div><div title="{{.H}}">x</div>{{html2 .S}}`},
	{"if-else", `{{if .B}}<b>yes {{.S}}</b>{{else}}<i>no {{.T}}</i>{{end}}`},
	{"if-chain", `{{if eq .N 1}}one{{else if eq .N 2}}two {{.S}}{{else if gt .N 2}}many{{else}}none{{end}}!`},
	{"if-no-else", `<p>{{if .Z}}z {{.S}}{{end}}</p>`},
	{"if-in-attr", `<p class="{{if .B}}on{{else}}off{{end}} x" title="{{if .Z}}{{.S}}{{end}}">x</p>`},
	{"if-decl", `{{if $v := .S}}<b>{{$v}}</b>{{else}}empty {{$v}}{{end}}`},
	{"if-nested", `{{if .B}}{{if .Z}}bz{{.S}}{{else}}b{{.T}}{{end}}{{else}}-{{end}}`},
	{"range-else", `<ul>{{range .L}}<li>{{.}}</li>{{else}}<li>empty</li>{{end}}</ul>`},
	{"range-vars", `{{range $i, $x := .L}}{{$i}}={{$x}};{{end}}`},
	{"range-map", `{{range $k, $v := .Map}}<dt>{{$k}}</dt><dd>{{$v}}</dd>{{end}}`},
	{"range-nested", `<table>{{range .Rows}}<tr>{{range .Cells}}<td>{{.}}</td>{{end}}</tr>{{end}}</table>`},
	{"range-keyed", `<ul>{{range .Items}}<li id="i-{{.ID}}">{{key .ID}}{{.Name}}</li>{{end}}</ul>`},
	{"range-keyed-end", `{{range $i, $it := .Items}}<li>{{$i}} {{$it.Name}}{{key $it.ID}}</li>{{end}}`},
	{"range-key-attr", `<script>var k = [{{range .Items}}{{key .ID}},{{end}}];</script>`},
	{"range-dollar", `{{range .L}}<i>{{.}}{{$.T}}</i>{{end}}`},
	{"range-int", `{{range 3}}<i>{{.}}</i>{{end}}`},
	{"range-break", `{{range .L}}{{if eq . "b"}}{{continue}}{{end}}{{if eq . "d"}}<hr>{{break}}{{end}}<i>{{.}}</i>{{end}}.`},
	{"range-break-plain", `{{range .L}}<i>{{.}}</i>{{break}}<u>dead</u>{{end}}`},
	{"range-with-break", `{{range .L}}<b>{{with .}}{{if eq . "c"}}{{break}}{{end}}[{{.}}]{{end}}</b>{{end}}`},
	{"with", `{{with .User}}<b>{{.Name}}</b> &lt;{{.Email}}&gt;{{else}}anon{{end}}`},
	{"with-else-with", `{{with .User}}{{.Name}}{{else with .S}}s={{.}}{{else}}none{{end}}`},
	{"with-dollar", `{{with .User}}{{.Name}}/{{$.T}}{{end}}`},
	{"template", `{{define "row"}}<td>{{.}}</td>{{end}}<tr>{{range .L}}{{template "row" .}}{{end}}</tr>`},
	{"template-static", `{{define "h"}}<header>hi</header>{{end}}{{template "h"}}<p>{{.S}}</p>{{template "h" .}}`},
	{"template-dot", `{{define "u"}}<b>{{.S}}</b>{{if .B}}!{{end}}{{end}}{{template "u" .}}{{template "u" .}}`},
	{"block", `<main>{{block "b" .}}default {{.S}}{{end}}</main>`},
	{"template-in-attr", `{{define "v"}}{{.}}{{end}}<a title="{{template "v" .S}}" href="{{template "v" .U}}">{{template "v" .S}}</a>`},
	{"template-in-js", `{{define "j"}}{{.}}{{end}}<script>var x = {{template "j" .S}};</script>{{template "j" .S}}`},
	{"template-opaque-calls", `{{define "a"}}{{template "b" .}}{{end}}{{define "b"}}<i>{{.}}</i>{{end}}<p title="{{template "a" .S}}">{{template "b" .S}}</p>`},
	{"template-recursive", `{{define "tree"}}<li>{{.Name}}{{if .Kids}}<ul>{{range .Kids}}{{template "tree" .}}{{end}}</ul>{{end}}</li>{{end}}<ul>{{template "tree" .Tree}}</ul>`},
	{"funcs-pipelines", `{{.S | upper}} {{printf "%s-%d" .S .N}} {{.L | join ", "}} {{add .N 40 | printf "%03d"}} {{len .L}}`},
	{"builtins", `{{if and .B (not .Z)}}{{len .L}}{{end}} {{index .Map "x"}} {{or .S "dflt"}} {{slice .T 1}} {{.S | urlquery}} {{js .S}} {{print .N .B}}`},
	{"variables", `{{$x := .S}}{{$y := upper $x}}{{$y}}|{{$x = .T}}{{$x}}|{{$n := 0}}{{range .L}}{{$n = add $n 1}}{{end}}{{$n}}`},
	{"methods", `{{.Greeting}} {{.Method "m"}} {{with .User}}{{.Name}}{{end}}`},
	{"chain", `{{(dict "a" .S).a}} {{(index .Items 0).Name}}`},
	{"any", `<p>{{.Any}}</p><script>var a = {{.Any}};</script>`},
	{"dot", `{{with .Map}}{{.}}{{end}}`},
	{"page", "<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\"><title>{{.T}}</title>" +
		"<style>body { color: {{.C}} }</style><script>window.cfg = {n: {{.N}}, s: \"{{.S}}\"};</script></head>" +
		"<body class=\"{{if .B}}b{{end}}\"><h1>{{.S}}</h1><nav><a href=\"{{.U}}\">{{.T}}</a></nav>" +
		"<ul>{{range .Items}}<li id=\"item-{{.ID}}\" onclick=\"sel({{.ID}})\">{{key .ID}}{{.Name}}</li>{{else}}<li>none</li>{{end}}</ul>" +
		"{{with .User}}<footer>{{.Name}} <a href=\"mailto:{{.Email}}\">mail</a></footer>{{end}}</body></html>"},
	{"meta-and-iframe", `<meta http-equiv="refresh" content="0;url={{.U}}"><iframe srcdoc="{{.S}}"></iframe><object data="{{.U}}"></object>`},
	{"svg", `<svg><a xlink:href="{{.U}}"><text>{{.S}}</text></a></svg>`},
	{"err-func", `{{fail .Z}}`},
}

func plainExec(t testing.TB, text string, data any) (string, error) {
	t.Helper()
	tm, err := template.New("p").Funcs(plainFuncs()).Parse(text)
	if err != nil {
		t.Fatalf("html/template parse: %v", err)
	}
	var b bytes.Buffer
	err = tm.Execute(&b, data)
	return b.String(), err
}

func mustParse(t testing.TB, text string) *Template {
	t.Helper()
	tm, err := New("p").Funcs(testFuncs).Parse(text)
	if err != nil {
		t.Fatalf("parse: %v", err)
	}
	return tm
}

// changes lists the top-level fields or keys that differ between a and b.
func changes(a, b any) Changes {
	va, vb := reflect.Indirect(reflect.ValueOf(a)), reflect.Indirect(reflect.ValueOf(b))
	c := Changes{}
	switch va.Kind() {
	case reflect.Struct:
		for i := range va.NumField() {
			if !reflect.DeepEqual(va.Field(i).Interface(), vb.Field(i).Interface()) {
				c[va.Type().Field(i).Name] = struct{}{}
			}
		}
	case reflect.Map:
		for _, k := range va.MapKeys() {
			w := vb.MapIndex(k)
			if !w.IsValid() || !reflect.DeepEqual(va.MapIndex(k).Interface(), w.Interface()) {
				c[k.String()] = struct{}{}
			}
		}
		for _, k := range vb.MapKeys() {
			if !va.MapIndex(k).IsValid() {
				c[k.String()] = struct{}{}
			}
		}
	}
	return c
}

// TestEquivalence renders the corpus and compares with html/template, byte
// for byte.
func TestEquivalence(t *testing.T) {
	for _, tc := range corpus {
		t.Run(tc.name, func(t *testing.T) {
			tm := mustParse(t, tc.text)
			for i, data := range pages {
				want, werr := plainExec(t, tc.text, data)
				n, err := tm.Render(data, nil)
				if werr != nil {
					if err == nil {
						t.Fatalf("page %d: html/template fails (%v), render does not", i, werr)
					}
					continue
				}
				if err != nil {
					t.Fatalf("page %d: %v", i, err)
				}
				got, err := diff.HTML(n)
				if err != nil {
					t.Fatalf("page %d: HTML: %v", i, err)
				}
				if got != want {
					t.Fatalf("page %d:\n got %q\nwant %q", i, got, want)
				}
			}
		})
	}
}

// TestRoundTrip renders every pair of pages, diffs them, applies the diffs
// to a client tree and compares its HTML with html/template's, with full
// renders and with change-tracked ones.
func TestRoundTrip(t *testing.T) {
	for _, tc := range corpus {
		if tc.name == "err-func" {
			continue
		}
		t.Run(tc.name, func(t *testing.T) {
			tm := mustParse(t, tc.text)
			for _, tracked := range []bool{false, true} {
				for i, v1 := range pages {
					for j, v2 := range pages {
						roundTrip(t, tm, tc.text, v1, v2, tracked, nil, fmt.Sprintf("tracked=%v %d->%d", tracked, i, j))
						// With a memo: per-item tracking of the ranges.
						roundTrip(t, tm, tc.text, v1, v2, tracked, &Memo{}, fmt.Sprintf("memo tracked=%v %d->%d", tracked, i, j))
					}
				}
			}
		})
	}
}

func roundTrip(t *testing.T, tm *Template, text string, v1, v2 any, tracked bool, memo *Memo, what string) {
	t.Helper()
	want, err2 := plainExec(t, text, v2)
	if _, err1 := plainExec(t, text, v1); err1 != nil || err2 != nil {
		return // html/template fails too: nothing to compare
	}
	prev, err := tm.RenderMemo(v1, nil, memo)
	if err != nil {
		t.Fatalf("%s: %v", what, err)
	}
	full, err := diff.Full(prev)
	if err != nil {
		t.Fatalf("%s: full: %v", what, err)
	}
	var client diff.Tree
	if _, err := client.Apply(full); err != nil {
		t.Fatalf("%s: apply full: %v", what, err)
	}
	var ch Changes
	if tracked {
		ch = changes(v1, v2)
	}
	next, err := tm.RenderMemo(v2, ch, memo)
	if err != nil {
		t.Fatalf("%s: %v", what, err)
	}
	d, err := diff.Diff(prev, next)
	if err != nil {
		t.Fatalf("%s: diff: %v", what, err)
	}
	if d != nil {
		if _, err := client.Apply(d); err != nil {
			t.Fatalf("%s: apply %s: %v", what, d, err)
		}
	}
	got, err := client.HTML()
	if err != nil {
		t.Fatalf("%s: client HTML: %v", what, err)
	}
	if got != want {
		t.Fatalf("%s: diff %s\n got %q\nwant %q", what, d, got, want)
	}
	// next is complete now (Diff resolved its markers): it must equal v2.
	if h, err := diff.HTML(next); err != nil || h != want {
		t.Fatalf("%s: resolved next: %v\n got %q\nwant %q", what, err, h, want)
	}
	if v1 == v2 && d != nil && tracked {
		t.Fatalf("%s: no change, yet diff %s", what, d)
	}
}

func TestCorpusSize(t *testing.T) {
	if len(corpus) < 40 {
		t.Fatalf("corpus has %d templates, want at least 40", len(corpus))
	}
}

func plainTemplate(text string) (*template.Template, error) {
	return template.New("p").Funcs(plainFuncs()).Parse(text)
}

type discardCounter struct{ n int }

func (d *discardCounter) Write(p []byte) (int, error) { d.n += len(p); return len(p), nil }
