// Command plot draws the figures of a "parley-bench compare" run from its
// compare.json with gonum.org/v1/plot (this module's only dependency, kept
// out of the core module):
//
//	latency-paced.png, latency-burst.png  latency distribution (CDF) per server
//	memory.png                             RSS per idle joined connection against connection count
//	throughput.png                         burst deliveries per server CPU-second against connection count
//
// Usage: go run . -in ../results/compare.json -out ../results
package main

import (
	"encoding/json"
	"flag"
	"fmt"
	"image/color"
	"log"
	"os"
	"path/filepath"
	"slices"
	"sort"

	"gonum.org/v1/plot"
	"gonum.org/v1/plot/plotter"
	"gonum.org/v1/plot/vg"
)

// report is the part of compare.json the plots need.
type report struct {
	Date    string   `json:"date"`
	N       int      `json:"n"`
	Servers []string `json:"servers"`
	Memory  map[string][]struct {
		N             int     `json:"n"`
		KiBPerConn    float64 `json:"kib_per_conn"`
		BurstPerCoreS float64 `json:"burst_deliveries_per_server_cpu_s"`
	} `json:"memory"`
	Latency map[string]map[string][]int64 `json:"latency_quantiles_ns"`
}

var palette = []color.Color{
	color.RGBA{R: 0xd6, G: 0x27, B: 0x28, A: 0xff}, // parley first: red
	color.RGBA{R: 0x1f, G: 0x77, B: 0xb4, A: 0xff},
	color.RGBA{R: 0x2c, G: 0xa0, B: 0x2c, A: 0xff},
	color.RGBA{R: 0xff, G: 0x7f, B: 0x0e, A: 0xff},
	color.RGBA{R: 0x94, G: 0x67, B: 0xbd, A: 0xff},
	color.RGBA{R: 0x7f, G: 0x7f, B: 0x7f, A: 0xff},
}

func main() {
	in := flag.String("in", "../results/compare.json", "compare.json of a parley-bench compare run")
	out := flag.String("out", "../results", "directory for the PNG files")
	flag.Parse()
	b, err := os.ReadFile(*in)
	if err != nil {
		log.Fatal(err)
	}
	var rep report
	if err := json.Unmarshal(b, &rep); err != nil {
		log.Fatal(err)
	}
	for _, kind := range []string{"paced", "burst"} {
		path := filepath.Join(*out, "latency-"+kind+".png")
		if err := latencyPlot(&rep, kind, path); err != nil {
			log.Fatal(err)
		}
		fmt.Println("wrote", path)
	}
	for _, f := range []struct {
		file, title, y string
		value          func(kib, perCore float64) float64
	}{
		{"memory.png", "server RSS per idle joined connection", "KiB per connection",
			func(kib, _ float64) float64 { return kib }},
		{"throughput.png", "burst fan-out: deliveries per server CPU-second", "deliveries per server CPU-s",
			func(_, perCore float64) float64 { return perCore }},
	} {
		path := filepath.Join(*out, f.file)
		if err := countPlot(&rep, f.title, f.y, f.value, path); err != nil {
			log.Fatal(err)
		}
		fmt.Println("wrote", path)
	}
}

// latencyPlot draws the CDF of one fan-out kind's latencies, one line per
// server, from the 200 quantiles compare stores (p0.5 … p100).
func latencyPlot(rep *report, kind, path string) error {
	p := plot.New()
	p.Title.Text = fmt.Sprintf("%s fan-out latency, %d connections (%s)", kind, rep.N, rep.Date)
	p.X.Label.Text = "latency (ms)"
	p.Y.Label.Text = "fraction of deliveries"
	p.Legend.Top, p.Legend.Left = false, false
	p.Legend.XOffs = -vg.Points(5)
	p.Add(plotter.NewGrid())
	for i, name := range rep.Servers {
		q := rep.Latency[name][kind]
		if len(q) == 0 {
			continue
		}
		pts := make(plotter.XYs, len(q))
		for j, ns := range q {
			pts[j].X = float64(ns) / 1e6
			pts[j].Y = float64(j+1) / float64(len(q))
		}
		line, err := plotter.NewLine(pts)
		if err != nil {
			return err
		}
		line.Color = palette[i%len(palette)]
		line.Width = vg.Points(1.5)
		p.Add(line)
		p.Legend.Add(name, line)
	}
	return p.Save(7*vg.Inch, 4.5*vg.Inch, path)
}

// countPlot draws one figure against the connection count, one line per
// server; value picks it from a point's KiB per connection and burst
// deliveries per server CPU-second. Points without a value are left out.
func countPlot(rep *report, title, ylabel string, value func(kib, perCore float64) float64, path string) error {
	p := plot.New()
	p.Title.Text = title + " (" + rep.Date + ")"
	p.X.Label.Text = "connections"
	p.Y.Label.Text = ylabel
	p.Y.Min = 0
	p.Legend.Top = true
	p.Add(plotter.NewGrid())
	names := slices.Clone(rep.Servers)
	for i, name := range names {
		pts := rep.Memory[name]
		sort.Slice(pts, func(a, b int) bool { return pts[a].N < pts[b].N })
		var xys plotter.XYs
		for _, pt := range pts {
			if v := value(pt.KiBPerConn, pt.BurstPerCoreS); v > 0 {
				xys = append(xys, plotter.XY{X: float64(pt.N), Y: v})
			}
		}
		if len(xys) == 0 {
			continue
		}
		line, scatter, err := plotter.NewLinePoints(xys)
		if err != nil {
			return err
		}
		line.Color, scatter.Color = palette[i%len(palette)], palette[i%len(palette)]
		line.Width = vg.Points(1.5)
		p.Add(line, scatter)
		p.Legend.Add(name, line, scatter)
	}
	return p.Save(7*vg.Inch, 4.5*vg.Inch, path)
}
