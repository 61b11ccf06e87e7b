// Package projections builds hookd's read models from the event log: the
// hooks of each app, in creation order, and the delivery items of each
// hook, newest first. They live in their own Badger database, and each
// batch of events is applied in one transaction together with the
// checkpoint (the last applied sequence), so every event is applied exactly
// once. Views are disposable: a rebuild replays the log into fresh views
// beside the live ones and swaps them in when complete (ViewsDir), and
// OpenViewsDir does that by itself for views it finds damaged.
//
// Key layout of the views database:
//
//	c                               → checkpoint (uint64 big-endian)
//	h <app> 0x00 <created seq>      → hook view (JSON), listed in creation order
//	H <hook>                        → <app> 0x00 <created seq>: index to the hook view
//	n <app>                         → number of hooks of the app
//	d <hook> 0x00 <^seq>            → delivery item view (JSON), newest first
//	D <hook> 0x00 <item>            → <^seq>: index to the delivery item view
//	m <hook>                        → number of delivery items of the hook
//	v                               → views format (uint64; absent: format 1), see ViewsFormat
//	b <app> 0x00 <^seq>             → build event view (JSON), newest first
//	B <event id>                    → {app, seq, build slug}: index to the build event view
//	o <app>                         → number of build events of the app
//	r <event id> 0x00 <request seq> → {hook, delivery id, requested at}: a delivery.requested
//	e <event id> 0x00 <hook> 0x00 <attempt seq> → "": the event's items, per hook, oldest first
//	Q <hook> 0x00 <delivery id>     → {request seq, build event seq, build slug} of a request
//	a <hook> 0x00 <^seq>            → status byte + created_at: every item, compact
//	s <hook> 0x00 <status> 0x00 <^seq>     → the same, per status ('f' failed, 's' succeeded)
//	g <hook> 0x00 <build slug> 0x00 <^seq> → the same, per build
//	M <hook> 0x00 <status>          → number of items of the hook with that status
//	G <hook> 0x00 <build slug> 0x00 <status> → number of items of that build with that status
//	z <app> 0x00 <created seq>      → removed hook view (JSON, with deleted_at)
//	X <hook>                        → <app> 0x00 <created seq>: index to the removed hook
//	N <app>                         → number of removed hooks of the app
//
// Sequences are big-endian so Badger iterates in log order; ^seq (all bits
// inverted) iterates newest first. A page's anchor is the next key's
// sequence part, so every page costs one seek.
package projections
