package main

import (
	"fmt"
	"strings"
	"text/tabwriter"
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

// add records one row: its JSON object and its table cells.
func (l *listing) add(obj map[string]any, cells ...string) {
	l.rows = append(l.rows, obj)
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
	after := ""
	for {
		page, err := fetch(after, listPage)
		if err != nil {
			return err
		}
		for _, v := range page {
			fn(v)
		}
		if len(page) < listPage {
			return nil
		}
		after = key(page[len(page)-1])
	}
}
