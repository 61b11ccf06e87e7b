package natslog

import (
	"errors"
	"fmt"

	"github.com/nats-io/nats.go/jetstream"

	"github.com/hookd/hookd/eventlog"
)

// What the writer makes of JetStream's answers (see batch.go).

func apiError(err error) *jetstream.APIError {
	var ae *jetstream.APIError
	if errors.As(err, &ae) {
		return ae
	}
	return nil
}

// errCode is err's JetStream error code, 0 if it is not an API error.
func errCode(err error) jetstream.ErrorCode {
	if ae := apiError(err); ae != nil {
		return ae.ErrorCode
	}
	return 0
}

const (
	errCodeWrongLastMsgID       jetstream.ErrorCode = 10070
	errCodeStoreFailed          jetstream.ErrorCode = 10077
	errCodeAccountResources     jetstream.ErrorCode = 10002
	errCodeStorageResources     jetstream.ErrorCode = 10047
	errCodeInsufficientResource jetstream.ErrorCode = 10023
	// errCodeDuplicateInProcess: on a cluster, a message with this id is
	// being stored (proposed, not yet applied): ask again shortly.
	errCodeDuplicateInProcess jetstream.ErrorCode = 10158
)

func isWrongLast(err error) bool {
	switch errCode(err) {
	case jetstream.JSErrCodeStreamWrongLastSequence, jetstream.JSErrCodeStreamWrongLastSequenceConstant, errCodeWrongLastMsgID:
		return true
	}
	return false
}

// isTemporary reports an API error that says to ask again later (503:
// JetStream is electing a leader, or catching up); the publish may have
// been taken before, so it counts as unanswered.
func isTemporary(err error) bool {
	ae := apiError(err)
	return ae != nil && ae.Code == 503 && !isLimit(err) // a full stream says 503 too
}

// isLimit reports a refusal because a limit was reached: nothing was stored.
func isLimit(err error) bool {
	switch errCode(err) {
	case errCodeStoreFailed, jetstream.JSErrCodeStreamMessageExceedsMaximum,
		errCodeAccountResources, errCodeStorageResources, errCodeInsufficientResource:
		return true
	}
	return false
}

func (l *Log) limitError(ts *topicState, err error) error {
	what := "raise the stream's limit (hookd's NATS limit settings, or nats stream edit " + ts.stream + ")"
	ae := apiError(err)
	switch ae.ErrorCode {
	case jetstream.JSErrCodeStreamMessageExceedsMaximum:
		what = "the event is larger than the server's max_payload or the stream's maximum message size: raise them, or append smaller events"
	case errCodeAccountResources, errCodeStorageResources, errCodeInsufficientResource:
		what = "raise the account's or the server's JetStream storage limit, or free space on the servers"
	}
	return fmt.Errorf("%w: the stream %s refused the append: %s; %s (nothing of it was appended)", eventlog.ErrUnavailable, ts.stream, ae.Description, what)
}
