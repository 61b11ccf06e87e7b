// Package fsutil holds the file-system steps hookd needs to make a file's
// creation or rename survive a crash.
package fsutil

import "os"

// SyncDir fsyncs a directory, so that an entry just created or renamed in
// it survives a crash (fsyncing the file alone does not make its name
// durable).
func SyncDir(dir string) error {
	d, err := os.Open(dir)
	if err != nil {
		return err
	}
	if err := d.Sync(); err != nil {
		d.Close()
		return err
	}
	return d.Close()
}
