// Package metrics is a small metrics registry that writes the Prometheus
// text exposition format (version 0.0.4) without depending on the Prometheus
// client: counters, gauges, gauges computed at scrape time, and histograms,
// each with optional labels.
//
// Entry points: [NewRegistry]; [Registry.Counter], [Registry.Gauge],
// [Registry.GaugeFunc] and [Registry.Histogram] declare families;
// [CounterVec.With] (and the other With methods) resolve one labelled
// series, which the hot path should keep and reuse; [Registry.Handler]
// serves the exposition and [Registry.WriteTo] writes it.
//
// Concurrency: everything is safe for concurrent use. Updating a resolved
// series is one atomic operation; With takes a read lock, or a write lock
// the first time a label combination appears. Declaring a family twice with
// the same name, kind and labels returns the same family, so independent
// components can share one; a conflicting declaration panics, as it is a
// programming error.
//
// Nil safety: every method of a nil *Registry returns a nil family, every
// method of a nil family returns a nil series, and every method of a nil
// series does nothing. A component given no Registry therefore needs no
// conditionals around its metric updates.
package metrics

import (
	"bufio"
	"fmt"
	"io"
	"math"
	"net/http"
	"slices"
	"sort"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
)

type kind uint8

const (
	kindCounter kind = iota
	kindGauge
	kindGaugeFunc
	kindHistogram
)

func (k kind) String() string {
	switch k {
	case kindCounter:
		return "counter"
	case kindHistogram:
		return "histogram"
	}
	return "gauge"
}

// Registry holds metric families. The zero value is not usable: build it
// with [NewRegistry].
type Registry struct {
	// mu guards families.
	mu       sync.Mutex
	families map[string]*family
}

// NewRegistry returns an empty Registry.
func NewRegistry() *Registry {
	return &Registry{families: make(map[string]*family)}
}

// family is one metric name: its series by label values.
type family struct {
	name    string
	help    string
	kind    kind
	labels  []string
	buckets []float64 // histograms

	// mu guards series, funcs and nextID.
	mu     sync.RWMutex
	series map[string]any // *Counter, *Gauge or *Histogram by joined label values
	funcs  []gaugeFunc
	nextID uint64
}

type gaugeFunc struct {
	id     uint64
	values []string
	f      func() float64
}

func (r *Registry) family(name, help string, k kind, buckets []float64, labels []string) *family {
	if r == nil {
		return nil
	}
	if !validName(name) {
		panic(fmt.Sprintf("metrics: invalid metric name %q", name))
	}
	for _, l := range labels {
		if !validName(l) || l == "le" || strings.Contains(l, ":") {
			panic(fmt.Sprintf("metrics: invalid label name %q for %s", l, name))
		}
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	if f, ok := r.families[name]; ok {
		if f.kind != k || !slices.Equal(f.labels, labels) || !slices.Equal(f.buckets, buckets) {
			panic(fmt.Sprintf("metrics: %s declared again with another kind, labels or buckets", name))
		}
		return f
	}
	f := &family{name: name, help: help, kind: k, labels: slices.Clone(labels), buckets: buckets, series: make(map[string]any)}
	r.families[name] = f
	return f
}

func validName(s string) bool {
	if s == "" {
		return false
	}
	for i, c := range s {
		ok := c == '_' || c == ':' || (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (i > 0 && c >= '0' && c <= '9')
		if !ok {
			return false
		}
	}
	return true
}

// key joins label values; 0xff never occurs in UTF-8 text.
func key(values []string) string {
	switch len(values) {
	case 0:
		return ""
	case 1:
		return values[0]
	}
	return strings.Join(values, "\xff")
}

// get returns the series for values, creating it with mk.
func (f *family) get(values []string, mk func() any) any {
	if len(values) != len(f.labels) {
		panic(fmt.Sprintf("metrics: %s takes %d label values, got %d", f.name, len(f.labels), len(values)))
	}
	k := key(values)
	f.mu.RLock()
	s, ok := f.series[k]
	f.mu.RUnlock()
	if ok {
		return s
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	if s, ok := f.series[k]; ok {
		return s
	}
	s = mk()
	f.series[k] = s
	return s
}

// CounterVec is a counter family.
type CounterVec struct{ f *family }

// Counter declares a counter: a value that only goes up.
func (r *Registry) Counter(name, help string, labels ...string) *CounterVec {
	f := r.family(name, help, kindCounter, nil, labels)
	if f == nil {
		return nil
	}
	return &CounterVec{f}
}

// With returns the series for the label values, in the declared order.
func (v *CounterVec) With(values ...string) *Counter {
	if v == nil {
		return nil
	}
	return v.f.get(values, func() any { return new(Counter) }).(*Counter)
}

// Counter is one counter series.
type Counter struct{ n atomic.Int64 }

// Inc adds one.
func (c *Counter) Inc() {
	if c != nil {
		c.n.Add(1)
	}
}

// Add adds n, which must not be negative.
func (c *Counter) Add(n int64) {
	if c != nil && n > 0 {
		c.n.Add(n)
	}
}

// Value returns the count.
func (c *Counter) Value() int64 {
	if c == nil {
		return 0
	}
	return c.n.Load()
}

// GaugeVec is a gauge family.
type GaugeVec struct{ f *family }

// Gauge declares a gauge: a value that goes up and down.
func (r *Registry) Gauge(name, help string, labels ...string) *GaugeVec {
	f := r.family(name, help, kindGauge, nil, labels)
	if f == nil {
		return nil
	}
	return &GaugeVec{f}
}

// With returns the series for the label values.
func (v *GaugeVec) With(values ...string) *Gauge {
	if v == nil {
		return nil
	}
	return v.f.get(values, func() any { return new(Gauge) }).(*Gauge)
}

// Gauge is one gauge series.
type Gauge struct{ n atomic.Int64 }

// Add adds n (may be negative).
func (g *Gauge) Add(n int64) {
	if g != nil {
		g.n.Add(n)
	}
}

// Inc adds one.
func (g *Gauge) Inc() { g.Add(1) }

// Dec subtracts one.
func (g *Gauge) Dec() { g.Add(-1) }

// Set sets the value.
func (g *Gauge) Set(n int64) {
	if g != nil {
		g.n.Store(n)
	}
}

// Value returns the value.
func (g *Gauge) Value() int64 {
	if g == nil {
		return 0
	}
	return g.n.Load()
}

// GaugeFuncVec is a family of gauges computed when scraped.
type GaugeFuncVec struct{ f *family }

// GaugeFunc declares a gauge whose series are computed at scrape time by
// functions added with [GaugeFuncVec.Add]. Nothing is paid on hot paths.
func (r *Registry) GaugeFunc(name, help string, labels ...string) *GaugeFuncVec {
	f := r.family(name, help, kindGaugeFunc, nil, labels)
	if f == nil {
		return nil
	}
	return &GaugeFuncVec{f}
}

// Add registers f for the label values. Functions added for the same label
// values are summed, so several components can report into one series. f
// is called from the scraping goroutine and must be safe for that. The
// returned function unregisters f.
func (v *GaugeFuncVec) Add(f func() float64, values ...string) (remove func()) {
	if v == nil {
		return func() {}
	}
	if len(values) != len(v.f.labels) {
		panic(fmt.Sprintf("metrics: %s takes %d label values, got %d", v.f.name, len(v.f.labels), len(values)))
	}
	v.f.mu.Lock()
	v.f.nextID++
	id := v.f.nextID
	v.f.funcs = append(v.f.funcs, gaugeFunc{id: id, values: slices.Clone(values), f: f})
	v.f.mu.Unlock()
	return func() {
		v.f.mu.Lock()
		defer v.f.mu.Unlock()
		v.f.funcs = slices.DeleteFunc(v.f.funcs, func(g gaugeFunc) bool { return g.id == id })
	}
}

// HistogramVec is a histogram family.
type HistogramVec struct{ f *family }

// DefaultBuckets suit durations in seconds from 100 µs to 10 s.
var DefaultBuckets = []float64{0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10}

// ExponentialBuckets returns n upper bounds: start, start×factor, ...
func ExponentialBuckets(start, factor float64, n int) []float64 {
	b := make([]float64, n)
	for i := range b {
		b[i] = start
		start *= factor
	}
	return b
}

// Histogram declares a histogram with the given upper bounds (sorted,
// without +Inf, which is implicit); nil means [DefaultBuckets].
func (r *Registry) Histogram(name, help string, buckets []float64, labels ...string) *HistogramVec {
	if buckets == nil {
		buckets = DefaultBuckets
	}
	if !sort.Float64sAreSorted(buckets) {
		panic(fmt.Sprintf("metrics: %s buckets are not sorted", name))
	}
	f := r.family(name, help, kindHistogram, buckets, labels)
	if f == nil {
		return nil
	}
	return &HistogramVec{f}
}

// With returns the series for the label values.
func (v *HistogramVec) With(values ...string) *Histogram {
	if v == nil {
		return nil
	}
	return v.f.get(values, func() any {
		return &Histogram{bounds: v.f.buckets, counts: make([]atomic.Uint64, len(v.f.buckets)+1)}
	}).(*Histogram)
}

// Histogram is one histogram series.
type Histogram struct {
	bounds []float64
	counts []atomic.Uint64 // per bucket, not cumulative; the last is +Inf
	sum    atomic.Uint64   // float64 bits
}

// Observe records v.
func (h *Histogram) Observe(v float64) {
	if h == nil {
		return
	}
	i := sort.SearchFloat64s(h.bounds, v) // first bound >= v
	h.counts[i].Add(1)
	for {
		old := h.sum.Load()
		if h.sum.CompareAndSwap(old, math.Float64bits(math.Float64frombits(old)+v)) {
			return
		}
	}
}

// Count returns the number of observations.
func (h *Histogram) Count() uint64 {
	if h == nil {
		return 0
	}
	var n uint64
	for i := range h.counts {
		n += h.counts[i].Load()
	}
	return n
}

// Sum returns the sum of the observations.
func (h *Histogram) Sum() float64 {
	if h == nil {
		return 0
	}
	return math.Float64frombits(h.sum.Load())
}

// ContentType is the media type of the exposition format.
const ContentType = "text/plain; version=0.0.4; charset=utf-8"

// Handler serves the exposition format.
func (r *Registry) Handler() http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		w.Header().Set("Content-Type", ContentType)
		w.Header().Set("Cache-Control", "no-store")
		_, _ = r.WriteTo(w)
	})
}

// WriteTo writes every family, sorted by name, series sorted by labels.
func (r *Registry) WriteTo(w io.Writer) (int64, error) {
	if r == nil {
		return 0, nil
	}
	cw := &countWriter{w: bufio.NewWriter(w)}
	for _, f := range r.sorted() {
		f.write(cw)
	}
	err := cw.w.Flush()
	if cw.err != nil {
		err = cw.err
	}
	return cw.n, err
}

type countWriter struct {
	w   *bufio.Writer
	n   int64
	err error
}

func (c *countWriter) str(s string) {
	if c.err != nil {
		return
	}
	n, err := c.w.WriteString(s)
	c.n += int64(n)
	c.err = err
}

// Family is a snapshot of one metric family, for exporters that feed
// another registry (Prometheus's client_golang, OpenTelemetry): see
// [Registry.Gather].
type Family struct {
	Name, Help string
	// Type is "counter", "gauge" or "histogram" (a GaugeFunc family is a
	// gauge).
	Type string
	// Labels are the label names, in declared order.
	Labels []string
	// Series are sorted by label values.
	Series []Series
}

// Series is one series of a [Family].
type Series struct {
	// Values are the label values, in the order of Family.Labels.
	Values []string
	// Value is a counter's or gauge's value.
	Value float64
	// Buckets are a histogram's cumulative counts by upper bound, +Inf
	// excluded (Count is its count).
	Buckets []Bucket
	Count   uint64
	Sum     float64
}

// Bucket is a histogram bucket: the observations ≤ UpperBound.
type Bucket struct {
	UpperBound float64
	Count      uint64
}

// Gather returns a snapshot of every family that has series, sorted by
// name; WriteTo writes the same.
func (r *Registry) Gather() []Family {
	if r == nil {
		return nil
	}
	var out []Family
	for _, f := range r.sorted() {
		if fam, ok := f.snapshot(); ok {
			out = append(out, fam)
		}
	}
	return out
}

// sorted returns the families sorted by name.
func (r *Registry) sorted() []*family {
	r.mu.Lock()
	fams := make([]*family, 0, len(r.families))
	for _, f := range r.families {
		fams = append(fams, f)
	}
	r.mu.Unlock()
	slices.SortFunc(fams, func(a, b *family) int { return strings.Compare(a.name, b.name) })
	return fams
}

// snapshot reads f's series; ok is false when it has none.
func (f *family) snapshot() (fam Family, ok bool) {
	fam = Family{Name: f.name, Help: f.help, Type: f.kind.String(), Labels: f.labels}
	f.mu.RLock()
	if f.kind == kindGaugeFunc {
		funcs := slices.Clone(f.funcs)
		f.mu.RUnlock()
		sums := map[string]int{}
		for _, gf := range funcs {
			k := key(gf.values)
			i, seen := sums[k]
			if !seen {
				i = len(fam.Series)
				sums[k] = i
				fam.Series = append(fam.Series, Series{Values: gf.values})
			}
			fam.Series[i].Value += gf.f()
		}
	} else {
		for k, s := range f.series {
			var values []string
			if len(f.labels) == 1 {
				values = []string{k}
			} else if len(f.labels) > 1 {
				values = strings.Split(k, "\xff")
			}
			ser := Series{Values: values}
			switch s := s.(type) {
			case *Counter:
				ser.Value = float64(s.Value())
			case *Gauge:
				ser.Value = float64(s.Value())
			case *Histogram:
				var cum uint64
				for i := range s.counts {
					cum += s.counts[i].Load()
					if i < len(s.bounds) {
						ser.Buckets = append(ser.Buckets, Bucket{UpperBound: s.bounds[i], Count: cum})
					}
				}
				ser.Count, ser.Sum = cum, s.Sum()
			}
			fam.Series = append(fam.Series, ser)
		}
		f.mu.RUnlock()
	}
	slices.SortFunc(fam.Series, func(a, b Series) int { return slices.Compare(a.Values, b.Values) })
	return fam, len(fam.Series) > 0
}

func (f *family) write(w *countWriter) {
	fam, ok := f.snapshot()
	if !ok {
		return
	}
	w.str("# HELP " + f.name + " " + escapeHelp(f.help) + "\n")
	w.str("# TYPE " + f.name + " " + fam.Type + "\n")
	for _, s := range fam.Series {
		labels := f.labelText(s.Values)
		switch f.kind {
		case kindCounter, kindGauge:
			w.str(f.name + braces(labels) + " " + strconv.FormatInt(int64(s.Value), 10) + "\n")
		case kindGaugeFunc:
			w.str(f.name + braces(labels) + " " + formatFloat(s.Value) + "\n")
		case kindHistogram:
			sep := ""
			if labels != "" {
				sep = ","
			}
			for _, b := range s.Buckets {
				w.str(f.name + "_bucket{" + labels + sep + `le="` + formatFloat(b.UpperBound) + `"} ` + strconv.FormatUint(b.Count, 10) + "\n")
			}
			w.str(f.name + "_bucket{" + labels + sep + `le="+Inf"} ` + strconv.FormatUint(s.Count, 10) + "\n")
			w.str(f.name + "_sum" + braces(labels) + " " + formatFloat(s.Sum) + "\n")
			w.str(f.name + "_count" + braces(labels) + " " + strconv.FormatUint(s.Count, 10) + "\n")
		}
	}
}

func braces(labels string) string {
	if labels == "" {
		return ""
	}
	return "{" + labels + "}"
}

func (f *family) labelText(values []string) string {
	var b strings.Builder
	for i, l := range f.labels {
		if i > 0 {
			b.WriteByte(',')
		}
		b.WriteString(l)
		b.WriteString(`="`)
		b.WriteString(escapeLabel(values[i]))
		b.WriteByte('"')
	}
	return b.String()
}

var (
	labelEscaper = strings.NewReplacer(`\`, `\\`, `"`, `\"`, "\n", `\n`)
	helpEscaper  = strings.NewReplacer(`\`, `\\`, "\n", `\n`)
)

func escapeLabel(s string) string { return labelEscaper.Replace(s) }
func escapeHelp(s string) string  { return helpEscaper.Replace(s) }

func formatFloat(v float64) string {
	switch {
	case math.IsInf(v, 1):
		return "+Inf"
	case math.IsInf(v, -1):
		return "-Inf"
	case math.IsNaN(v):
		return "NaN"
	}
	return strconv.FormatFloat(v, 'g', -1, 64)
}
