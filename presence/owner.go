package presence

import "errors"

// Owner is what the presence helpers need of a joined channel;
// *channel.Context satisfies it. (presence does not import channel.)
type Owner interface {
	// ID is unique per channel instance: the owner of its presences.
	ID() string
	Topic() string
	// Push sends an event to this client only, with its join ref.
	Push(event string, payload any) error
	// OnTerminate registers f to run when the channel ends, however.
	OnTerminate(f func())
}

// TrackChannel tracks key with meta in o's topic, owned by o, and makes
// sure o's presences are untracked when the channel ends for any reason
// (leave, crash, closed connection, duplicate join). Call it from the
// channel's callbacks (Join, HandleIn, HandleInfo), which run before the
// channel can end.
func (t *Tracker) TrackChannel(o Owner, key string, meta map[string]any) (string, error) {
	owner := o.ID()
	ref, err := t.Track(owner, o.Topic(), key, meta)
	if err != nil {
		return "", err
	}
	t.mu.Lock()
	hook := !t.hooked[owner]
	t.hooked[owner] = true
	t.mu.Unlock()
	if hook {
		o.OnTerminate(func() {
			t.mu.Lock()
			delete(t.hooked, owner)
			t.mu.Unlock()
			if err := t.UntrackAll(owner); err != nil && !errors.Is(err, ErrClosed) {
				t.cfg.Logger.Error("presence: untrack ended channel", "owner", owner, "err", err)
			}
		})
	}
	return ref, nil
}

// PushState pushes "presence_state" with the presences of o's topic to o's
// client, carrying o's join ref, as the phoenix JS Presence expects.
//
// Call it once the channel is subscribed to its topic, so that no diff
// falls between the state and the subscription: from HandleInfo of a
// message the channel sends itself in Join (c.Send), Phoenix's
// :after_join. Called inside Join, the push itself is held until the join
// reply, but a change made between the List and the subscription that
// follows Join would be missed until the next diff of that key.
func (t *Tracker) PushState(o Owner) error {
	state, err := t.State(o.Topic())
	if err != nil {
		return err
	}
	return o.Push(EventState, state)
}
