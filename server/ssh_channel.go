package server

import (
	"log/slog"

	"charm.land/ssh"
	gossh "golang.org/x/crypto/ssh"
)

// refusedSessionRequests are per-session requests the console never grants.
// Agent forwarding ("auth-agent-req@openssh.com") is granted: the library
// records it on the session (ssh.AgentRequested), and the console opens the
// agent channel back to the client only to ask for one signature per
// decision (agentSource); the agent is never listed for anything else,
// nor forwarded anywhere.
var refusedSessionRequests = map[string]bool{
	"x11-req": true, // X11 forwarding
}

// sessionChannelHandler serves "session" channels with the library's
// handler, after filtering out the requests the console refuses.
func (s *SSHServer) sessionChannelHandler(srv *ssh.Server, conn *gossh.ServerConn, newChan gossh.NewChannel, ctx ssh.Context) {
	ssh.DefaultSessionHandler(srv, conn, filteredChannel{NewChannel: newChan, log: s.log}, ctx)
}

// Bounds on what one session channel may ask, so a session's memory does
// not grow with what the client sends: environment variables (the library
// keeps every one), and a TERM name (it reaches the console's colour
// detection and the log).
const (
	maxSessionEnv      = 64
	maxSessionEnvBytes = 4 << 10
	maxTermName        = 128
)

// filteredChannel is a gossh.NewChannel whose accepted request stream skips
// refusedSessionRequests, answering each with a refusal, clamps terminal
// sizes (pty-req, window-change) to MaxPTYColumns × MaxPTYRows, and refuses
// environment variables beyond maxSessionEnv.
type filteredChannel struct {
	gossh.NewChannel
	log *slog.Logger
}

func (c filteredChannel) Accept() (gossh.Channel, <-chan *gossh.Request, error) {
	ch, reqs, err := c.NewChannel.Accept()
	if err != nil {
		return ch, reqs, err
	}
	out := make(chan *gossh.Request)
	go func() {
		defer close(out)
		envs := 0
		for r := range reqs {
			refuse := refusedSessionRequests[r.Type]
			switch r.Type {
			case "pty-req":
				var ok bool
				r.Payload, ok = clampPTYRequest(r.Payload)
				refuse = !ok
			case "window-change":
				r.Payload = clampWindowChange(r.Payload)
			case "env":
				envs++
				refuse = envs > maxSessionEnv || len(r.Payload) > maxSessionEnvBytes
			}
			if refuse {
				c.log.Info("ssh session request refused", "type", r.Type)
				if r.WantReply {
					_ = r.Reply(false, nil)
				}
				continue
			}
			out <- r
		}
	}()
	return ch, out, nil
}

// ptyRequest is the payload of "pty-req" (RFC 4254 §6.2).
type ptyRequest struct {
	Term                      string
	Columns, Rows, PixW, PixH uint32
	Modes                     string
}

// windowChange is the payload of "window-change" (RFC 4254 §6.7).
type windowChange struct {
	Columns, Rows, PixW, PixH uint32
}

// clampCells bounds the character size; the pixel size goes with it.
func clampCells(cols, rows, pw, ph *uint32) {
	if *cols > MaxPTYColumns || *rows > MaxPTYRows {
		*pw, *ph = 0, 0 // no longer describes the clamped grid
	}
	*cols, *rows = min(*cols, MaxPTYColumns), min(*rows, MaxPTYRows)
}

// clampPTYRequest rewrites a pty-req with its size clamped; false refuses
// it (malformed, or an absurd TERM name).
func clampPTYRequest(payload []byte) ([]byte, bool) {
	var p ptyRequest
	if err := gossh.Unmarshal(payload, &p); err != nil || len(p.Term) > maxTermName {
		return payload, false
	}
	clampCells(&p.Columns, &p.Rows, &p.PixW, &p.PixH)
	return gossh.Marshal(p), true
}

// clampWindowChange rewrites a window-change with its size clamped; a
// malformed one is passed on for the library to refuse.
func clampWindowChange(payload []byte) []byte {
	var w windowChange
	if err := gossh.Unmarshal(payload, &w); err != nil {
		return payload
	}
	clampCells(&w.Columns, &w.Rows, &w.PixW, &w.PixH)
	return gossh.Marshal(w)
}
