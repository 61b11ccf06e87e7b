package eventlog

import (
	"errors"
	"fmt"
	"path/filepath"
)

// ErrDamaged marks a log or views directory whose files are damaged or
// that holds less than it did: hookd refuses to run on it.
var ErrDamaged = errors.New("damaged")

// DamageError says what is damaged and where.
type DamageError struct {
	What   string // "event log", "views"
	Dir    string
	File   string // the damaged file, "" when it is the directory as a whole
	Reason string
}

func (e *DamageError) Error() string {
	where := e.Dir
	if e.File != "" {
		where = filepath.Join(e.Dir, e.File)
	}
	return fmt.Sprintf("the %s is %v: %s: %s", e.What, ErrDamaged, where, e.Reason)
}

func (e *DamageError) Unwrap() error { return ErrDamaged }
