package server

import (
	"log/slog"

	"charm.land/ssh"
	gossh "golang.org/x/crypto/ssh"
)

// refusedSessionRequests are per-session requests the console never grants.
// The SSH library would acknowledge agent forwarding (and only not use it);
// here the client is told no, so `ssh -A` shows the refusal and nothing
// downstream can come to rely on an agent being there.
var refusedSessionRequests = map[string]bool{
	"auth-agent-req@openssh.com": true, // agent forwarding
	"x11-req":                    true, // X11 forwarding
}

// sessionChannelHandler serves "session" channels with the library's
// handler, after filtering out the requests the console refuses.
func (s *SSHServer) sessionChannelHandler(srv *ssh.Server, conn *gossh.ServerConn, newChan gossh.NewChannel, ctx ssh.Context) {
	ssh.DefaultSessionHandler(srv, conn, filteredChannel{NewChannel: newChan, log: s.log}, ctx)
}

// filteredChannel is a gossh.NewChannel whose accepted request stream skips
// refusedSessionRequests, answering each with a refusal.
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
		for r := range reqs {
			if refusedSessionRequests[r.Type] {
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
