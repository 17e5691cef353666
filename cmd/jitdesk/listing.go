package main

import (
	"fmt"
	"strings"
	"text/tabwriter"

	"github.com/jitdesk/jitdesk/ui"
)

// listing collects a list command's rows both ways, as JSON objects and as
// table lines, and prints whichever --json asks for.
type listing struct {
	g    *globals
	tw   *tabwriter.Writer
	rows []map[string]any
}

// newListing starts a table with the given column names.
func (g *globals) newListing(columns ...string) *listing {
	l := &listing{g: g, tw: tabwriter.NewWriter(g.out, 0, 4, 2, ' ', 0), rows: []map[string]any{}}
	fmt.Fprintln(l.tw, strings.Join(columns, "\t"))
	return l
}

// add records one row: its JSON object and its table cells. Every cell
// passes ui.Inert: cells hold names, titles and reasons from outside (and
// an escaped tab cannot break the table).
func (l *listing) add(obj map[string]any, cells ...string) {
	if obj != nil {
		l.rows = append(l.rows, obj)
	}
	for i, c := range cells {
		cells[i] = ui.Inert(c)
	}
	fmt.Fprintln(l.tw, strings.Join(cells, "\t"))
}

// print writes the JSON array or the table.
func (l *listing) print() error {
	if l.g.json {
		return l.g.printJSON(l.rows)
	}
	return l.tw.Flush()
}

// listPage is how many rows a list command asks the service for at a time.
const listPage = 100

// eachPage walks a list keyed by name a page at a time, calling fn per row.
func eachPage[T any](fetch func(after string, limit int) ([]T, error), key func(T) string, fn func(T)) error {
	return eachPageWhile(fetch, key, func(v T) bool { fn(v); return true })
}

// eachPageWhile is eachPage that stops when fn returns false.
func eachPageWhile[T any](fetch func(after string, limit int) ([]T, error), key func(T) string, fn func(T) bool) error {
	after := ""
	for {
		page, err := fetch(after, listPage)
		if err != nil {
			return err
		}
		for _, v := range page {
			if !fn(v) {
				return nil
			}
		}
		if len(page) < listPage {
			return nil
		}
		after = key(page[len(page)-1])
	}
}
