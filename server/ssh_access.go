package server

import (
	"context"
	"errors"
	"time"

	"github.com/jitdesk/jitdesk/approvals"
)

// accessRecheckGap is the least time between two re-checks of the live
// sessions. Change signals arrive on every commit (a busy intake commits
// constantly), and each re-check reads one row per distinct key; the gap
// bounds that cost while a withdrawn key still loses its sessions well
// within a second.
const accessRecheckGap = 250 * time.Millisecond

// startAccessChecks starts, once per server, the goroutine that ends live
// sessions whose key was removed or whose approver was disabled. It holds
// one change-feed subscription for the whole server, whatever the number
// of sessions.
// Each new session also asks for a re-check, so a key withdrawn between
// its login and its registration here is not missed.
func (s *SSHServer) startAccessChecks() {
	s.accessOnce.Do(func() { go s.recheckAccess() })
	select {
	case s.kick <- struct{}{}:
	default:
	}
}

func (s *SSHServer) stopAccessChecks() {
	s.stopOnce.Do(func() { close(s.stop) })
}

func (s *SSHServer) recheckAccess() {
	changes, unsubscribe := s.cfg.Service.Subscribe()
	defer unsubscribe()
	for {
		select {
		case <-s.stop:
			return
		case <-changes:
		case <-s.kick:
		}
		started := time.Now()
		s.recheckSessions()
		// Signals that arrived meanwhile wait in the channel (coalesced).
		select {
		case <-s.stop:
			return
		case <-time.After(accessRecheckGap - time.Since(started)):
		}
	}
}

// recheckSessions looks up every live session's key once and ends the
// sessions it no longer admits, telling the approver why.
func (s *SSHServer) recheckSessions() {
	s.mu.Lock()
	byKey := map[string][]*sessionState{}
	for _, st := range s.programs {
		byKey[st.fingerprint] = append(byKey[st.fingerprint], st)
	}
	s.mu.Unlock()
	for fp, sessions := range byKey {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		a, err := s.cfg.Service.ApproverBySSHKey(ctx, fp)
		cancel()
		var reason string
		switch {
		case errors.Is(err, approvals.ErrDisabled):
			reason = "your approver account was disabled; this session has ended"
		case errors.Is(err, approvals.ErrNotFound):
			reason = "this SSH key no longer belongs to an approver (it was removed); this session has ended"
		case err != nil:
			// The database did not answer: keep the session; the next
			// change re-checks it.
			s.log.Error("ssh access re-check", "fingerprint", fp, "err", err.Error())
			continue
		}
		for _, st := range sessions {
			why := reason
			if why == "" && a.Login != st.login {
				why = "this SSH key now belongs to another approver; this session has ended"
			}
			if why == "" || st.why() != "" {
				continue // admitted, or already ending
			}
			s.log.Info("ssh session ended: access withdrawn", "login", st.login, "fingerprint", fp, "reason", why)
			st.end(why)
			go endSession(st.sess, st.prog)
		}
	}
}
