package stream_test

import (
	"bytes"
	"flag"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/parley-go/parley/internal/leakcheck"
	"github.com/parley-go/parley/live/diff"
	"github.com/parley-go/parley/live/render"
	"github.com/parley-go/parley/live/stream"
)

func TestMain(m *testing.M) { leakcheck.Main(m) }

var update = flag.Bool("update", false, "rewrite the golden files under testdata/")

type song struct {
	ID   int
	Name string
}

func songID(s song) string { return fmt.Sprintf("songs-%d", s.ID) }

// songsTmpl is the spec's stream example (§3.4) as a Go template.
var songsTmpl = render.Must(render.New("songs").Parse(
	`<ul id="songs" phx-update="stream">{{range $id, $s := .songs}}<li id="{{$id}}">{{$s.Name}}</li>{{end}}</ul>`))

// page follows one view: renders through live/render with the stream assign
// marked changed, and encodes the first render in full, later ones as diffs.
type page struct {
	t    *testing.T
	tmpl *render.Template
	data map[string]any
	prev *diff.Node
	tree diff.Tree
}

func (p *page) render() []byte {
	p.t.Helper()
	var changes render.Changes
	if p.prev != nil {
		changes = render.Changed("songs")
	}
	n, err := p.tmpl.Render(p.data, changes)
	if err != nil {
		p.t.Fatal(err)
	}
	var b []byte
	if p.prev == nil {
		b, err = diff.Full(n)
	} else {
		b, err = diff.Diff(p.prev, n)
	}
	if err != nil {
		p.t.Fatal(err)
	}
	p.prev = n
	if b != nil {
		if _, err := p.tree.Apply(b); err != nil {
			p.t.Fatalf("the client model rejects %s: %v", b, err)
		}
	}
	return b
}

func golden(t *testing.T, name string, got []byte, want string) {
	t.Helper()
	path := filepath.Join("testdata", name)
	if *update {
		if err := os.WriteFile(path, append(got, '\n'), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	file, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	if g := bytes.TrimSuffix(file, []byte("\n")); !bytes.Equal(g, got) {
		t.Errorf("%s:\n got %s\nfile %s", name, got, g)
	}
	if want != "" && string(got) != want {
		t.Errorf("%s:\n got %s\nspec %s", name, got, want)
	}
}

// TestGoldenSpecTable renders the spec's stream table (§3.4) through the
// real render path: template, stream assign, diff encoder.
func TestGoldenSpecTable(t *testing.T) {
	s := stream.New("0", songID) // the spec's ref is "0"
	p := &page{t: t, tmpl: songsTmpl, data: map[string]any{"songs": s}}

	s.InsertMany([]song{{1, "A"}, {2, "B"}})
	golden(t, "join.json", p.render(),
		`{"0":{"s":["<li id=\"","\">","</li>"],"k":{"0":{"0":"songs-1","1":"A"},"1":{"0":"songs-2","1":"B"},"kc":2},"stream":["0",[["songs-1",-1,null,false],["songs-2",-1,null,false]],[]]},"s":["<ul id=\"songs\" phx-update=\"stream\">","</ul>"]}`)

	s.Insert(song{3, "C"}, stream.At(0))
	golden(t, "insert_at_0.json", p.render(),
		`{"0":{"k":{"0":{"0":"songs-3","1":"C"},"kc":1},"stream":["0",[["songs-3",0,null,false]],[]]}}`)

	s.Delete(song{ID: 2})
	golden(t, "delete.json", p.render(), `{"0":{"k":{"kc":0},"stream":["0",[],["songs-2"]]}}`)

	s.Insert(song{4, "D"}, stream.Limit(-2))
	golden(t, "append_limit.json", p.render(),
		`{"0":{"k":{"0":{"0":"songs-4","1":"D"},"kc":1},"stream":["0",[["songs-4",-1,-2,false]],[]]}}`)

	s.Reset()
	s.Insert(song{5, "E"})
	golden(t, "reset.json", p.render(),
		`{"0":{"k":{"0":{"0":"songs-5","1":"E"},"kc":1},"stream":["0",[["songs-5",-1,null,false]],[],true]}}`)

	// Nothing queued: nothing sent.
	if b := p.render(); b != nil {
		t.Fatalf("idle render sent %s", b)
	}
	s.Insert(song{5, "E2"}, stream.UpdateOnly())
	golden(t, "update_only.json", p.render(),
		`{"0":{"k":{"0":{"0":"songs-5","1":"E2"},"kc":1},"stream":["0",[["songs-5",-1,null,true]],[]]}}`)
}

func TestDomidFuncAndDot(t *testing.T) {
	tmpl := render.Must(render.New("dot").Parse(
		`<div id="c" phx-update="stream">{{range .songs}}<p id="{{domid}}">{{.Name}}</p>{{end}}</div>`))
	s := stream.New("songs", songID)
	p := &page{t: t, tmpl: tmpl, data: map[string]any{"songs": s}}
	s.Insert(song{7, "G"})
	got := string(p.render())
	want := `{"0":{"s":["<p id=\"","\">","</p>"],"k":{"0":{"0":"songs-7","1":"G"},"kc":1},"stream":["songs",[["songs-7",-1,null,false]],[]]},"s":["<div id=\"c\" phx-update=\"stream\">","</div>"]}`
	if got != want {
		t.Fatalf("got  %s\nwant %s", got, want)
	}
}

func TestQueueSemantics(t *testing.T) {
	s := stream.New("x", songID)
	if s.Pending() {
		t.Fatal("new stream pending")
	}
	s.Insert(song{1, "a"})
	s.Insert(song{2, "b"})
	s.Insert(song{1, "a2"}, stream.At(0)) // the later insert of songs-1 wins
	s.Insert(song{3, "c"})
	s.DeleteID("songs-3") // cancels the pending insert, still deletes
	ops, items := s.TakeStream()
	var got []string
	for i, it := range items {
		got = append(got, fmt.Sprintf("%s:%v@%d", it.DOMID, it.Value.(song).Name, ops.Inserts[i].At))
	}
	if strings.Join(got, " ") != "songs-2:b@-1 songs-1:a2@0" {
		t.Fatalf("items %v", got)
	}
	if len(ops.Deletes) != 1 || ops.Deletes[0] != "songs-3" || ops.Reset {
		t.Fatalf("ops %+v", ops)
	}
	if s.Pending() {
		t.Fatal("pending after take")
	}
	s.Insert(song{9, "z"})
	s.Reset()
	if ops, items := s.TakeStream(); !ops.Reset || len(items) != 0 || len(ops.Inserts) != 0 {
		t.Fatalf("reset drops earlier inserts: %+v %v", ops, items)
	}
}

func TestRangeElseOverStreamFails(t *testing.T) {
	tmpl := render.Must(render.New("else").Parse(
		`<ul id="u" phx-update="stream">{{range .songs}}<li id="{{domid}}"></li>{{else}}none{{end}}</ul>`))
	s := stream.New("songs", songID)
	if _, err := tmpl.Render(map[string]any{"songs": s}, nil); err == nil || !strings.Contains(err.Error(), "else") {
		t.Fatalf("err = %v", err)
	}
	// A plain slice with else still works.
	if _, err := tmpl.Render(map[string]any{"songs": []int{}}, nil); err != nil {
		t.Fatal(err)
	}
}

// TestStreamMemoryFlat streams 100k messages through render and diff, one
// render per message as a chat would, and checks that the live heap after
// the last render does not grow with the number of messages.
func TestStreamMemoryFlat(t *testing.T) {
	if testing.Short() {
		t.Skip("slow")
	}
	type msg struct {
		ID   int
		Body string
	}
	tmpl := render.Must(render.New("chat").Parse(
		`<h1>{{.title}}</h1><ul id="m" phx-update="stream">{{range $id, $m := .messages}}<li id="{{$id}}">{{$m.Body}}</li>{{end}}</ul>`))
	s := stream.New("messages", func(m msg) string { return fmt.Sprintf("m-%d", m.ID) })
	p := &page{t: t, tmpl: tmpl, data: map[string]any{"messages": s, "title": "chat"}}
	heapAt := map[int]uint64{}
	for i := 1; i <= 100_000; i++ {
		s.Insert(msg{i, strings.Repeat("x", 100)}, stream.Limit(-30))
		var changes render.Changes
		if p.prev != nil {
			changes = render.Changed("messages")
		}
		n, err := tmpl.Render(p.data, changes)
		if err != nil {
			t.Fatal(err)
		}
		if p.prev == nil {
			_, err = diff.Full(n)
		} else {
			_, err = diff.Diff(p.prev, n)
		}
		if err != nil {
			t.Fatal(err)
		}
		p.prev = n
		if i == 1_000 || i == 100_000 {
			heapAt[i] = stream.HeapInUse()
		}
	}
	t.Logf("live heap after 1k messages: %d B, after 100k: %d B", heapAt[1_000], heapAt[100_000])
	// 99k more messages of 100+ bytes would be ~10 MB if kept.
	if grow := int64(heapAt[100_000]) - int64(heapAt[1_000]); grow > 1<<20 {
		t.Fatalf("heap grew by %d B over 99k streamed messages", grow)
	}
}
