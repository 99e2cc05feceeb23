// Command plotmem draws the Redis memory of two `lake bench write
// --sample-memory` runs, one with background compaction and one without,
// as a PNG: x is writes, y is the meta Redis's used_memory in MB.
//
//	go run . --with with.csv --without without.csv --out plot.png
//
// Each CSV is what --sample-memory writes: a header line, then
// elapsed_s,ops,used_memory_bytes once a second. It is a module of its
// own so that the library's go.mod gains no plotting dependency.
package main

import (
	"encoding/csv"
	"errors"
	"flag"
	"fmt"
	"image/color"
	"io"
	"os"
	"strconv"

	"gonum.org/v1/plot"
	"gonum.org/v1/plot/plotter"
	"gonum.org/v1/plot/vg"
)

func main() {
	with := flag.String("with", "", "`CSV` of the run with background compaction")
	without := flag.String("without", "", "`CSV` of the run without it")
	out := flag.String("out", "redis-memory.png", "the PNG to write")
	title := flag.String("title", "Redis used_memory under sustained writes", "the plot's title")
	flag.Parse()
	if *with == "" || *without == "" || flag.NArg() != 0 {
		fmt.Fprintln(os.Stderr, "usage: plotmem --with CSV --without CSV [--out PNG] [--title TEXT]")
		os.Exit(2)
	}
	if err := run(*with, *without, *out, *title); err != nil {
		fmt.Fprintln(os.Stderr, "plotmem:", err)
		os.Exit(1)
	}
}

func run(withCSV, withoutCSV, out, title string) error {
	p := plot.New()
	p.Title.Text = title
	p.Title.Padding = vg.Points(8)
	p.X.Label.Text = "writes"
	p.Y.Label.Text = "used_memory (MB)"
	p.X.Tick.Marker = thousands{}
	p.Y.Min = 0
	p.Add(plotter.NewGrid())
	p.Legend.Top = true
	p.Legend.Left = true
	for _, s := range []struct {
		file, name string
		color      color.RGBA
	}{
		{withoutCSV, "without compaction", color.RGBA{R: 200, G: 40, B: 40, A: 255}},
		{withCSV, "with background compaction", color.RGBA{R: 30, G: 90, B: 200, A: 255}},
	} {
		points, err := readSamples(s.file)
		if err != nil {
			return err
		}
		line, err := plotter.NewLine(points)
		if err != nil {
			return fmt.Errorf("%s: %w", s.file, err)
		}
		line.Color = s.color
		line.Width = vg.Points(1.5)
		p.Add(line)
		p.Legend.Add(s.name, line)
	}
	return p.Save(9*vg.Inch, 5*vg.Inch, out)
}

// readSamples reads a --sample-memory CSV as (writes, MB) points.
func readSamples(file string) (plotter.XYs, error) {
	f, err := os.Open(file)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	r := csv.NewReader(f)
	r.FieldsPerRecord = 3
	var points plotter.XYs
	for line := 1; ; line++ {
		rec, err := r.Read()
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			return nil, fmt.Errorf("%s: %w", file, err)
		}
		if line == 1 && rec[0] == "elapsed_s" {
			continue // the header
		}
		ops, err1 := strconv.ParseFloat(rec[1], 64)
		used, err2 := strconv.ParseFloat(rec[2], 64)
		if err := errors.Join(err1, err2); err != nil {
			return nil, fmt.Errorf("%s:%d: %w", file, line, err)
		}
		points = append(points, plotter.XY{X: ops, Y: used / 1e6})
	}
	if len(points) == 0 {
		return nil, fmt.Errorf("%s: no samples", file)
	}
	return points, nil
}

// thousands labels the x axis in plain numbers (200,000 rather than 2e+05).
type thousands struct{}

func (thousands) Ticks(min, max float64) []plot.Tick {
	ticks := plot.DefaultTicks{}.Ticks(min, max)
	for i, t := range ticks {
		if t.Label != "" {
			ticks[i].Label = group(int64(t.Value))
		}
	}
	return ticks
}

// group writes n with a comma every three digits.
func group(n int64) string {
	s := strconv.FormatInt(n, 10)
	if n < 0 {
		return "-" + group(-n)
	}
	for i := len(s) - 3; i > 0; i -= 3 {
		s = s[:i] + "," + s[i:]
	}
	return s
}
