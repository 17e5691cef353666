// Package signature is the model of an approver's electronic signature:
// drawn strokes (points with time offsets on a dot canvas) or typed text
// drawn with a handwriting-like stroke font, bound to the request the
// approver saw through its digest and to the statement they signed.
//
// It provides the canonical encoding and digest of a signature, strict
// decoding and structural validation, and rendering: a braille-dot Canvas
// for the terminal (2×4 dots a cell), SVG and PNG for export. Strokes are
// stored as vectors and rasterised only for display; a typed signature stores
// only its text and font name, its strokes are derived by Paths.
//
// The package is headless: it is used by approvals (binding and
// verification) and by the console (drawing), and imports no UI framework.
//
// The typed-signature font is Hershey Script 1-stroke, generated into
// font_data.go by internal/genfont; see FONT-LICENSE.md for the
// acknowledgements that must travel with it.
package signature

//go:generate go run ./internal/genfont -o font_data.go
