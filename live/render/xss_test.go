package render

import (
	"html/template"
	"strings"
	"testing"

	"github.com/parley-go/parley/live/diff"
)

// xssVectors are classic attack strings (OWASP's filter evasion cheat
// sheet, HTML5 security cheat sheet, JS and CSS breakouts), plus generated
// variations below.
var xssVectors = []string{
	`<script>alert(1)</script>`,
	`<SCRIPT SRC=http://xss.rocks/xss.js></SCRIPT>`,
	`<ScRiPt>alert(1)</sCrIpT>`,
	`<script/src=data:,alert(1)>`,
	`<script>alert(String.fromCharCode(88,83,83))</script>`,
	`</script><script>alert(1)</script>`,
	`</SCRIPT ><script>alert(1)</script >`,
	`</script/><svg onload=alert(1)>`,
	`<!--<script>alert(1)</script>-->`,
	`--><script>alert(1)</script>`,
	`<img src=x onerror=alert(1)>`,
	`<IMG SRC="javascript:alert('XSS');">`,
	`<IMG SRC=javascript:alert('XSS')>`,
	`<IMG SRC=JaVaScRiPt:alert('XSS')>`,
	"<IMG SRC=`javascript:alert(\"RSnake says, 'XSS'\")`>",
	`<IMG """><SCRIPT>alert("XSS")</SCRIPT>"\>`,
	`<IMG SRC=&#106;&#97;&#118;&#97;&#115;&#99;&#114;&#105;&#112;&#116;&#58;&#97;&#108;&#101;&#114;&#116;&#40;&#39;&#88;&#83;&#83;&#39;&#41;>`,
	`<IMG SRC=&#x6A&#x61&#x76&#x61&#x73&#x63&#x72&#x69&#x70&#x74&#x3A&#x61&#x6C&#x65&#x72&#x74&#x28&#x27&#x58&#x53&#x53&#x27&#x29>`,
	`<IMG SRC="jav	ascript:alert('XSS');">`,
	`<IMG SRC="jav&#x09;ascript:alert('XSS');">`,
	`<IMG SRC=" &#14;  javascript:alert('XSS');">`,
	`<svg/onload=alert(1)>`,
	`<svg><script>alert(1)</script></svg>`,
	`<body onload=alert(1)>`,
	`<iframe src="javascript:alert(1)"></iframe>`,
	`<iframe srcdoc="<script>alert(1)</script>"></iframe>`,
	`<object data="javascript:alert(1)">`,
	`<embed src="javascript:alert(1)">`,
	`<a href="javascript:alert(1)">x</a>`,
	`<math><mtext><table><mglyph><style><img src=x onerror=alert(1)>`,
	`<details open ontoggle=alert(1)>`,
	`<input autofocus onfocus=alert(1)>`,
	`<marquee onstart=alert(1)>`,
	`<base href="javascript:alert(1)//">`,
	`<meta http-equiv="refresh" content="0;url=javascript:alert(1)">`,
	`<link rel=stylesheet href="javascript:alert(1)">`,
	`<style>@import 'javascript:alert(1)';</style>`,
	`<div style="width: expression(alert(1));">`,
	`<div style="background:url(javascript:alert(1))">`,
	`<xss style="behavior: url(xss.htc);">`,
	`<form action="javascript:alert(1)"><button>x</button></form>`,
	`<button formaction=javascript:alert(1)>x</button>`,
	`<template><script>alert(1)</script></template>`,
	`<noscript><p title="</noscript><img src=x onerror=alert(1)>">`,
	`<textarea></textarea><script>alert(1)</script>`,
	`<title></title><script>alert(1)</script>`,
	`<![CDATA[<script>alert(1)</script>]]>`,
	`"><script>alert(1)</script>`,
	`'><script>alert(1)</script>`,
	`" onmouseover="alert(1)`,
	`' onmouseover='alert(1)`,
	` onmouseover=alert(1) `,
	`" autofocus onfocus="alert(1)`,
	`"/><svg onload=alert(1)>`,
	"` onmouseover=alert(1) `",
	`x" style="x:expression(alert(1))`,
	`javascript:alert(1)`,
	`JaVaScRiPt:alert(1)`,
	` javascript:alert(1)`,
	"java\tscript:alert(1)",
	"java\nscript:alert(1)",
	"\x01javascript:alert(1)",
	`javascript&colon;alert(1)`,
	`javascript&#58;alert(1)`,
	`vbscript:msgbox(1)`,
	`data:text/html;base64,PHNjcmlwdD5hbGVydCgxKTwvc2NyaXB0Pg==`,
	`data:text/html,<script>alert(1)</script>`,
	`//evil.com`,
	`https://evil.com/"><script>alert(1)</script>`,
	`';alert(1);//`,
	`";alert(1);//`,
	`\';alert(1);//`,
	`\";alert(1);//`,
	`</script><script>alert(1)//`,
	"`;alert(1);//",
	"${alert(1)}",
	"`${alert(1)}`",
	`\u0027;alert(1);//`,
	`\x27;alert(1);//`,
	`1;alert(1)`,
	`alert(1)`,
	`-alert(1)-`,
	`/*</script>*/alert(1)`,
	`*/alert(1)/*`,
	`<!--`,
	`-->`,
	`/x/;alert(1);/`,
	`expression(alert(1))`,
	`red;background:url(javascript:alert(1))`,
	`red}body{background:url(javascript:alert(1))}`,
	`</style><script>alert(1)</script>`,
	`\3c script\3e alert(1)`,
	`\\\"`,
	`@import url(javascript:alert(1));`,
	`"; } body { x: "`,
	`url("javascript:alert(1)")`,
	"\u2028alert(1)\u2029",
	"\u003cscript\u003e",
	"\uff1cscript\uff1ealert(1)\uff1c/script\uff1e",
	"\u202egnp.exe",
	"<scr\x00ipt>alert(1)</scr\x00ipt>",
	"\x00",
	"\xff\xfe<script>",
	"\ue000\ue001sentinel\ue002",
	"\ufeff<script>alert(1)</script>",
	`&lt;script&gt;alert(1)&lt;/script&gt;`,
	`&#60;script&#62;`,
	`%3Cscript%3Ealert(1)%3C/script%3E`,
	`{{.S}}`,
	`{{template "x"}}`,
	`<%= 1 %>`,
	`ZgotmplZ`,
	`<a href="#" phx-click="evil">x</a>`,
	`" phx-click="delete_all`,
	`<div phx-hook="Evil" id="x">`,
}

// xssTemplate injects .S into every context html/template knows.
const xssTemplate = `<p>{{.S}}</p>` +
	`<a title="{{.S}}" data-x='{{.S}}' class={{.S}}>t</a>` +
	`<a href="{{.S}}">u</a><a href='/q?x={{.S}}&y=1#{{.S}}'>q</a><a href={{.S}}>v</a>` +
	`<img src="{{.S}}" srcset="{{.S}}"><iframe srcdoc="{{.S}}"></iframe>` +
	`<form action="{{.S}}"><button formaction="{{.S}}">b</button></form>` +
	`<button onclick="f({{.S}}); g('{{.S}}')" onmouseover={{.S}}>c</button>` +
	`<script>var a = {{.S}}; var b = "{{.S}}"; var c = '{{.S}}'; var r = /{{.S}}/; var t = ` + "`{{.S}}`" + `;</script>` +
	`<p style="color: {{.S}}; background: url({{.S}}); font-family: '{{.S}}'">s</p>` +
	`<style>p { color: {{.S}}; } q { content: "{{.S}}"; } r { background: url('{{.S}}') }</style>` +
	`<textarea>{{.S}}</textarea><title>{{.S}}</title><!-- {{.S}} -->` +
	`{{if .S}}<b title="{{.S}}">{{.S}}</b>{{end}}{{range .L}}<li onclick="h({{.}})">{{.}}</li>{{end}}` +
	`{{with .S}}<meta http-equiv="refresh" content="0;url={{.}}">{{end}}`

// TestXSS injects each vector into each context: the output must equal
// html/template's, and no dynamic may carry a vector holding markup
// characters unescaped.
func TestXSS(t *testing.T) {
	vectors := append([]string(nil), xssVectors...)
	// Variations: case flips, wrapped in quotes, doubled.
	for _, v := range xssVectors[:40] {
		vectors = append(vectors, strings.ToUpper(v), `"`+v+`"`, v+v)
	}
	if len(xssVectors) < 100 {
		t.Fatalf("%d base vectors, want at least 100", len(xssVectors))
	}
	tm := mustParse(t, xssTemplate)
	var prev *diff.Node
	var client diff.Tree
	for i, v := range vectors {
		data := map[string]any{"S": v, "L": []string{v, "x" + v}}
		want, err := plainExec(t, xssTemplate, data)
		if err != nil {
			t.Fatalf("vector %d: html/template: %v", i, err)
		}
		n, err := tm.Render(data, nil)
		if err != nil {
			t.Fatalf("vector %d %q: %v", i, v, err)
		}
		got, err := diff.HTML(n)
		if err != nil {
			t.Fatal(err)
		}
		if got != want {
			t.Fatalf("vector %d %q:\n got %q\nwant %q", i, v, got, want)
		}
		// html/template escapes < and > in every context (&lt;, \u003c,
		// \3c, %3c, or drops them in comments).
		if strings.ContainsAny(v, "<>") {
			eachText(n, func(s string) {
				if strings.Contains(s, v) {
					t.Errorf("vector %d %q appears unescaped in dynamic %q", i, v, s)
				}
			})
		}
		// The same render as a diff from the previous vector.
		d, err := diff.Diff(prev, n)
		if err != nil {
			t.Fatal(err)
		}
		if _, err := client.Apply(d); err != nil {
			t.Fatalf("vector %d: apply: %v", i, err)
		}
		if h, err := client.HTML(); err != nil || h != wireUTF8(want) {
			t.Fatalf("vector %d: client HTML %v\n got %q\nwant %q", i, err, h, want)
		}
		prev = n
	}
	t.Logf("%d vectors x %d contexts", len(vectors), strings.Count(xssTemplate, "{{.S}}")+strings.Count(xssTemplate, "{{.}}"))
}

// wireUTF8 is s as it reaches the client: JSON carries each invalid UTF-8
// byte as U+FFFD.
func wireUTF8(s string) string { return strings.Map(func(r rune) rune { return r }, s) }

func eachText(n *diff.Node, f func(string)) {
	var dyns func([]diff.Dyn)
	dyns = func(ds []diff.Dyn) {
		for _, d := range ds {
			switch d.Kind() {
			case diff.KindText:
				f(d.HTMLText())
			case diff.KindNode:
				dyns(d.Node().Dynamics)
			case diff.KindComprehension:
				for _, e := range d.Comprehension().Entries {
					dyns(e.Dynamics)
				}
			}
		}
	}
	dyns(n.Dynamics)
}

// TestMarkersUnforgeable: output that looks like anything, including the
// bytes of the marker arena, never splits a dynamic.
func TestMarkersUnforgeable(t *testing.T) {
	tm := Must(New("p").Funcs(testFuncs).Parse(`<p>{{.A}}</p>{{.H}}<i>{{.B}}</i>`))
	c, err := tm.compiled()
	if err != nil {
		t.Fatal(err)
	}
	arena := string(c.arena)
	for _, s := range []string{"\x00", arena, arena + arena, "\x00\x00\x00\x00", strings.Repeat("\x00", 64)} {
		data := map[string]any{"A": s, "H": htmlOf(s), "B": s}
		n, err := tm.Render(data, nil)
		if err != nil {
			t.Fatal(err)
		}
		if len(n.Dynamics) != 3 || n.Dynamics[1].HTMLText() != s {
			t.Fatalf("%q: dynamics %#v", s, n.Dynamics)
		}
		want, _ := plainExec(t, `<p>{{.A}}</p>{{.H}}<i>{{.B}}</i>`, data)
		if got, _ := diff.HTML(n); got != want {
			t.Fatalf("%q:\n got %q\nwant %q", s, got, want)
		}
	}
}

func htmlOf(s string) template.HTML { return template.HTML(s) }
