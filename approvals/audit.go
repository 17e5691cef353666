package approvals

import (
	"context"
	"encoding/base64"
	"encoding/hex"
	"fmt"
	"strconv"
	"strings"

	"golang.org/x/mod/sumdb/note"
)

// AuditReport is the result of walking the audit chain.
type AuditReport struct {
	Events   int64
	HeadHash string
	// Replay says what the state replay compared with the tables.
	Replay ReplayReport
}

// auditPage bounds memory while walking the chain.
const auditPage = 1000

// VerifyAudit walks the whole chain, recomputing every hash, and names the
// first broken link; then it replays the chain into the state it records
// and compares that with the tables, naming the first difference (an
// *AuditMismatchError): the log proves the state, not only itself.
func (s *Service) VerifyAudit(ctx context.Context) (AuditReport, error) {
	rep, err := s.verifyChain(ctx)
	if err != nil {
		return rep, err
	}
	if rep.Replay, err = s.replay(ctx); err != nil {
		return rep, err
	}
	return rep, nil
}

// verifyChain walks the chain alone.
func (s *Service) verifyChain(ctx context.Context) (AuditReport, error) {
	var rep AuditReport
	prev := ""
	var after int64
	for {
		var evs []AuditEvent
		err := s.store.View(ctx, func(tx ReadTx) error {
			var err error
			evs, err = tx.AuditEvents(after, auditPage)
			return err
		})
		if err != nil {
			return rep, fmt.Errorf("audit verify: %w", err)
		}
		for _, ev := range evs {
			if ev.Seq != after+1 {
				return rep, fmt.Errorf("%w: event %d follows event %d (events are missing)", ErrAuditBroken, ev.Seq, after)
			}
			if ev.PrevHash != prev {
				return rep, fmt.Errorf("%w at event %d (%s): prev_hash does not match event %d's hash", ErrAuditBroken, ev.Seq, ev.Action, after)
			}
			if want := ChainHash(prev, ev); ev.Hash != want {
				return rep, fmt.Errorf("%w at event %d (%s): its content was changed after it was written", ErrAuditBroken, ev.Seq, ev.Action)
			}
			prev, after = ev.Hash, ev.Seq
			rep.Events++
		}
		if len(evs) < auditPage {
			rep.HeadHash = prev
			return rep, nil
		}
	}
}

// AuditLog returns up to limit events before beforeSeq (0 = newest), newest first.
func (s *Service) AuditLog(ctx context.Context, beforeSeq int64, limit int) ([]AuditEvent, error) {
	var evs []AuditEvent
	err := s.store.View(ctx, func(tx ReadTx) error {
		var err error
		evs, err = tx.AuditEventsDesc(beforeSeq, limit)
		return err
	})
	return evs, err
}

const checkpointOrigin = "jitdesk audit checkpoint"

// Checkpoint returns a signed note naming the audit log's size and head hash,
// for the operator to keep elsewhere: a later log that does not extend it
// reveals truncation or rewriting that the chain alone cannot.
func (s *Service) Checkpoint(ctx context.Context, signer note.Signer) ([]byte, error) {
	var seq int64
	var head string
	err := s.store.View(ctx, func(tx ReadTx) error {
		var err error
		seq, head, err = tx.AuditHead()
		return err
	})
	if err != nil {
		return nil, fmt.Errorf("checkpoint: %w", err)
	}
	raw, err := hex.DecodeString(head)
	if err != nil {
		return nil, fmt.Errorf("checkpoint: head hash: %w", err)
	}
	text := fmt.Sprintf("%s\n%d\n%s\n", checkpointOrigin, seq, base64.StdEncoding.EncodeToString(raw))
	msg, err := note.Sign(&note.Note{Text: text}, signer)
	if err != nil {
		return nil, fmt.Errorf("checkpoint: sign: %w", err)
	}
	return msg, nil
}

// VerifyCheckpoint checks a signed checkpoint and that the current log extends
// it: the event at the checkpoint's size still has the checkpoint's hash, and
// the whole chain verifies.
func (s *Service) VerifyCheckpoint(ctx context.Context, msg []byte, verifier note.Verifier) (AuditReport, error) {
	n, err := note.Open(msg, note.VerifierList(verifier))
	if err != nil {
		return AuditReport{}, fmt.Errorf("%w: checkpoint signature does not verify with key %s: %v", ErrAuditBroken, verifier.Name(), err)
	}
	lines := strings.Split(strings.TrimSuffix(n.Text, "\n"), "\n")
	if len(lines) != 3 || lines[0] != checkpointOrigin {
		return AuditReport{}, fmt.Errorf("%w: not a jitdesk audit checkpoint", ErrInvalid)
	}
	size, err := strconv.ParseInt(lines[1], 10, 64)
	if err != nil || size < 0 {
		return AuditReport{}, fmt.Errorf("%w: checkpoint size %q", ErrInvalid, lines[1])
	}
	raw, err := base64.StdEncoding.DecodeString(lines[2])
	if err != nil {
		return AuditReport{}, fmt.Errorf("%w: checkpoint hash %q", ErrInvalid, lines[2])
	}
	want := hex.EncodeToString(raw)
	// The chain and the checkpoint first (truncation is named as such),
	// then the replay against the tables.
	rep, err := s.verifyChain(ctx)
	if err != nil {
		return rep, err
	}
	if rep.Events < size {
		return rep, fmt.Errorf("%w: the log has %d events but the checkpoint recorded %d: events were cut off", ErrAuditBroken, rep.Events, size)
	}
	var got string
	err = s.store.View(ctx, func(tx ReadTx) error {
		if size == 0 {
			return nil
		}
		evs, err := tx.AuditEvents(size-1, 1)
		if err != nil {
			return err
		}
		if len(evs) == 1 {
			got = evs[0].Hash
		}
		return nil
	})
	if err != nil {
		return rep, err
	}
	if size > 0 && got != want {
		return rep, fmt.Errorf("%w: event %d no longer has the checkpoint's hash: the log was rewritten", ErrAuditBroken, size)
	}
	if rep.Replay, err = s.replay(ctx); err != nil {
		return rep, err
	}
	return rep, nil
}
