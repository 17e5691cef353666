package ui

import (
	"os"

	"charm.land/lipgloss/v2"
)

func lipglossWidth(s string) int { return lipgloss.Width(s) }

func osMkdirTemp() (string, error) { return os.MkdirTemp("", "jitdesk-ui-bench-") }
