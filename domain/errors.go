package domain

import (
	"errors"
	"fmt"
)

// Sentinel errors, matched with errors.Is at the edges.
var (
	ErrInvalid          = errors.New("invalid input")
	ErrHookNotFound     = errors.New("webhook not found")
	ErrDeliveryNotFound = errors.New("delivery item not found")
	// ErrBuildEventNotFound: no build event with that id for that app.
	ErrBuildEventNotFound = errors.New("build event not found")
)

// FieldError says which field of an input is wrong and why. It wraps
// ErrInvalid so callers can map every validation failure the same way.
type FieldError struct {
	Field   string
	Message string
}

func (e *FieldError) Error() string {
	if e.Field == "" {
		return e.Message
	}
	return fmt.Sprintf("%s: %s", e.Field, e.Message)
}

func (e *FieldError) Unwrap() error { return ErrInvalid }

func invalid(field, format string, args ...any) error {
	return &FieldError{Field: field, Message: fmt.Sprintf(format, args...)}
}
