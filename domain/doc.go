// Package domain holds hookd's facts and rules as plain values and pure
// functions: the events appended to the log, hooks and their validation,
// build payloads, which hooks a build event matches, and the exact request
// sent for a hook and an event.
//
// It imports no transport or storage code: IDs and times are made at the
// edges and passed in, so every rule here can be tested with a table.
package domain
