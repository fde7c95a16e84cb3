package redisstore

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"strconv"
	"sync/atomic"
	"time"

	"github.com/redis/go-redis/v9"
)

// Listener is told what a Bus hears; authcache.Cache implements it.
type Listener interface {
	// Confirm: every message published before asOf has been passed to
	// Apply.
	Confirm(asOf time.Time)
	// Lost: the subscription is down; messages may be missed until the
	// next Confirm.
	Lost()
	// Apply: a message published by an instance (this one included).
	Apply(msg string)
}

// BusOptions configure a Bus. Zero values select the defaults.
type BusOptions struct {
	// Prefix starts the channel name, as it starts every key of the Store:
	// the channel is Prefix+"inval"; default "sso:".
	Prefix string
	// PublishTimeout bounds each Publish; default 500ms.
	PublishTimeout time.Duration
	// PingEvery is how often the subscription is pinged; each answer
	// confirms it (Listener.Confirm). Default 250ms.
	PingEvery time.Duration
	// DeadAfter: a ping unanswered for this long drops the subscription,
	// which is then made anew. Default 1s.
	DeadAfter time.Duration
	// Log is told when the subscription is lost and back; default none.
	Log *slog.Logger
}

// Bus carries short messages (the auth cache's invalidations) to every
// instance sharing a Redis, over pub/sub on the channel Prefix+"inval".
// Plain SUBSCRIBE and PUBLISH work alike on a standalone Redis, through
// Sentinel (the failover client follows the master) and on a Cluster
// (PUBLISH reaches the subscribers of every node).
//
// go-redis's PubSub.Channel reconnects and resubscribes behind its
// caller's back, so messages published meanwhile are lost without a word.
// Run uses Receive instead, and never lets a subscription recover by
// itself: on any error it says Lost, closes it and makes a new one. It
// confirms the subscription with pings of its own: Redis answers a PING
// on the subscribed connection in order with the messages, so its answer
// proves that every message published before the ping was sent has been
// received. (On a Cluster, a message published at another node travels
// over the cluster bus first: the proof holds up to that delay.)
type Bus struct {
	pub, sub redis.UniversalClient
	channel  string
	opt      BusOptions
	// listener is Run's, for the connection watch (see NewBus).
	listener atomic.Pointer[Listener]
}

// NewBus returns a Bus that publishes with pub and subscribes with sub; it
// closes neither. sub must be a client of its own, used for nothing else:
// the bus hooks its dialing so that a read that fails on one of its
// connections (Redis killed, connection reset) says Lost at once, from the
// reading goroutine itself. Without that, go-redis first tries to
// reconnect, for up to about half a second (DialerRetries), and the cache
// would be used meanwhile.
func NewBus(pub, sub redis.UniversalClient, opt BusOptions) *Bus {
	if opt.Prefix == "" {
		opt.Prefix = "sso:"
	}
	if opt.PublishTimeout <= 0 {
		opt.PublishTimeout = 500 * time.Millisecond
	}
	if opt.PingEvery <= 0 {
		opt.PingEvery = 250 * time.Millisecond
	}
	if opt.DeadAfter <= opt.PingEvery {
		opt.DeadAfter = max(time.Second, 2*opt.PingEvery)
	}
	if opt.Log == nil {
		opt.Log = slog.New(slog.DiscardHandler)
	}
	b := &Bus{pub: pub, sub: sub, channel: opt.Prefix + "inval", opt: opt}
	w := watch{broken: b.broken}
	if cc, ok := sub.(*redis.ClusterClient); ok {
		cc.OnNewNode(func(c *redis.Client) { c.AddHook(w) })
	} else {
		sub.AddHook(w)
	}
	return b
}

// broken is called when a connection of sub fails.
func (b *Bus) broken() {
	if l := b.listener.Load(); l != nil {
		(*l).Lost()
	}
}

// watch is a go-redis hook that wraps each new connection in a
// watchedConn.
type watch struct{ broken func() }

func (w watch) DialHook(next redis.DialHook) redis.DialHook {
	return func(ctx context.Context, network, addr string) (net.Conn, error) {
		c, err := next(ctx, network, addr)
		if err != nil {
			return nil, err
		}
		return &watchedConn{Conn: c, broken: w.broken}, nil
	}
}

func (w watch) ProcessHook(next redis.ProcessHook) redis.ProcessHook { return next }

func (w watch) ProcessPipelineHook(next redis.ProcessPipelineHook) redis.ProcessPipelineHook {
	return next
}

// watchedConn tells broken about every read that fails other than by a
// deadline (ReceiveTimeout's, which is how the bus waits).
type watchedConn struct {
	net.Conn
	broken func()
}

func (c *watchedConn) Read(p []byte) (int, error) {
	n, err := c.Conn.Read(p)
	if err != nil {
		var ne net.Error
		if !errors.As(err, &ne) || !ne.Timeout() {
			c.broken()
		}
	}
	return n, err
}

// Channel returns the channel's name.
func (b *Bus) Channel() string { return b.channel }

// Publish sends msg to every subscriber, this instance's included.
func (b *Bus) Publish(ctx context.Context, msg string) error {
	ctx, cancel := context.WithTimeout(ctx, b.opt.PublishTimeout)
	defer cancel()
	if err := b.pub.Publish(ctx, b.channel, msg).Err(); err != nil {
		return fmt.Errorf("redisstore: publish: %w", err)
	}
	return nil
}

// Run subscribes and tells l what it hears until ctx ends; then it says
// Lost and returns. Between subscriptions it waits from 50ms up to 2s.
func (b *Bus) Run(ctx context.Context, l Listener) {
	b.listener.Store(&l)
	defer b.listener.Store(nil)
	const minWait, maxWait = 50 * time.Millisecond, 2 * time.Second
	wait := minWait
	down := false // logged as lost, not yet as back
	for {
		confirmed, err := b.subscription(ctx, l, func() {
			if down {
				b.opt.Log.Info("auth cache: invalidations subscribed again", "channel", b.channel)
				down = false
			}
		})
		l.Lost()
		if ctx.Err() != nil {
			return
		}
		if confirmed {
			wait = minWait
		}
		if !down {
			b.opt.Log.Warn("auth cache: invalidation subscription lost; the cache is off until it is back", "channel", b.channel, "err", err)
			down = true
		}
		t := time.NewTimer(wait)
		select {
		case <-ctx.Done():
			t.Stop()
			return
		case <-t.C:
		}
		wait = min(2*wait, maxWait)
	}
}

// errNoPong is the error of a subscription whose pings go unanswered.
var errNoPong = errors.New("redisstore: bus: ping unanswered")

// subscription runs one subscription until it fails or ctx ends. It
// reports whether it was ever confirmed; up is called at each
// confirmation.
func (b *Bus) subscription(ctx context.Context, l Listener, up func()) (confirmed bool, err error) {
	ps := b.sub.Subscribe(ctx, b.channel)
	defer ps.Close()
	start := time.Now()
	subscribed := false
	// Pings carry a sequence number; their send times stay here, with
	// Go's monotonic clock reading, so that a step of the wall clock can
	// neither extend nor cut the cache's lease.
	var (
		seq     uint64
		pending = make(map[string]time.Time)
	)
	// lastAnswered is when the last answered ping was sent (before the
	// first: when the subscription began).
	lastAnswered, nextPing := start, start
	for ctx.Err() == nil {
		now := time.Now()
		if !subscribed && now.Sub(start) > b.opt.DeadAfter {
			return confirmed, errors.New("redisstore: bus: SUBSCRIBE unconfirmed")
		}
		if now.Sub(lastAnswered) > b.opt.DeadAfter {
			return confirmed, errNoPong
		}
		if subscribed && !now.Before(nextPing) {
			seq++
			payload := strconv.FormatUint(seq, 10)
			if err := ps.Ping(ctx, payload); err != nil {
				return confirmed, err
			}
			pending[payload] = now
			nextPing = now.Add(b.opt.PingEvery)
		}
		wait := max(time.Millisecond, min(nextPing.Sub(now), b.opt.PingEvery))
		if !subscribed {
			wait = b.opt.PingEvery
		}
		msg, err := ps.ReceiveTimeout(ctx, wait)
		if err != nil {
			var ne net.Error
			if errors.As(err, &ne) && ne.Timeout() {
				continue
			}
			return confirmed, err
		}
		switch m := msg.(type) {
		case *redis.Subscription:
			if m.Kind == "subscribe" && m.Channel == b.channel {
				subscribed = true
			}
		case *redis.Message:
			if m.Channel == b.channel {
				l.Apply(m.Payload)
			}
		case *redis.Pong:
			sent, ok := pending[m.Payload]
			if !ok {
				continue // not one of ours
			}
			// Answers come in order: older pings are answered too.
			for p, t := range pending {
				if !t.After(sent) {
					delete(pending, p)
				}
			}
			lastAnswered = sent
			confirmed = true
			l.Confirm(sent)
			up()
		}
	}
	return confirmed, ctx.Err()
}
