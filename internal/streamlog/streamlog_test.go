package streamlog

import (
	"context"
	"fmt"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/nats-io/nats.go/jetstream"
	"github.com/stretchr/testify/require"

	"github.com/hookstream/hookstream/internal/brokertest"
)

const testStream = "LOG"

// setup returns a JetStream with stream LOG on log.> holding n messages on
// log.a (bodies "1".."n") interleaved with n on log.b (bodies "b1".."bn").
func setup(t *testing.T, n int) jetstream.JetStream {
	t.Helper()
	b := brokertest.New(t)
	ctx := context.Background()
	_, err := b.JS.CreateStream(ctx, jetstream.StreamConfig{Name: testStream, Subjects: []string{"log.>"}})
	require.NoError(t, err)
	for i := 1; i <= n; i++ {
		_, err := b.JS.Publish(ctx, "log.a", []byte(strconv.Itoa(i)))
		require.NoError(t, err)
		_, err = b.JS.Publish(ctx, "log.b", []byte(fmt.Sprintf("b%d", i)))
		require.NoError(t, err)
	}
	return b.JS
}

// number decodes the bodies of log.a, and keeps those keep accepts.
func number(keep func(int) bool) func(Msg) (int, bool) {
	return func(m Msg) (int, bool) {
		n, err := strconv.Atoi(string(m.Data))
		return n, err == nil && (keep == nil || keep(n))
	}
}

func values(es []Entry[int]) []int {
	out := make([]int, 0, len(es))
	for _, e := range es {
		out = append(out, e.Value)
	}
	return out
}

func TestReadNewest(t *testing.T) {
	t.Parallel()
	js := setup(t, 10)
	ctx := context.Background()
	read := func(t *testing.T, p Page, keep func(int) bool) ([]Entry[int], bool) {
		t.Helper()
		es, more, err := ReadNewest(ctx, js, testStream, "log.a", p, number(keep))
		require.NoError(t, err)
		return es, more
	}

	t.Run("newest first", func(t *testing.T) {
		t.Parallel()
		es, more := read(t, Page{Limit: 50}, nil)
		require.Equal(t, []int{10, 9, 8, 7, 6, 5, 4, 3, 2, 1}, values(es))
		require.False(t, more)
		for i := 1; i < len(es); i++ {
			require.Greater(t, es[i-1].Seq, es[i].Seq)
			require.False(t, es[i].Time.IsZero())
		}
	})

	t.Run("pages", func(t *testing.T) {
		t.Parallel()
		var pages [][]int
		var before uint64
		for range 10 {
			es, more := read(t, Page{Limit: 4, Before: before}, nil)
			pages = append(pages, values(es))
			if !more {
				break
			}
			before = es[len(es)-1].Seq
		}
		require.Equal(t, [][]int{{10, 9, 8, 7}, {6, 5, 4, 3}, {2, 1}}, pages)

		// An exact multiple of the limit ends with more = false.
		es, more := read(t, Page{Limit: 5}, nil)
		require.True(t, more)
		es, more = read(t, Page{Limit: 5, Before: es[4].Seq}, nil)
		require.Equal(t, []int{5, 4, 3, 2, 1}, values(es))
		require.False(t, more)

		es, more = read(t, Page{Limit: 5, Before: 1}, nil)
		require.Empty(t, es)
		require.False(t, more)
	})

	t.Run("filtered", func(t *testing.T) {
		t.Parallel()
		odd := func(n int) bool { return n%2 == 1 }
		es, more := read(t, Page{Limit: 3}, odd)
		require.Equal(t, []int{9, 7, 5}, values(es))
		require.True(t, more)
		es, more = read(t, Page{Limit: 3, Before: es[2].Seq}, odd)
		require.Equal(t, []int{3, 1}, values(es))
		require.False(t, more)
	})

	t.Run("empty subject", func(t *testing.T) {
		t.Parallel()
		es, more, err := ReadNewest(ctx, js, testStream, "log.nothing", Page{Limit: 3}, number(nil))
		require.NoError(t, err)
		require.Empty(t, es)
		require.NotNil(t, es, "an empty page is [], not null")
		require.False(t, more)
	})

	t.Run("bad limit", func(t *testing.T) {
		t.Parallel()
		_, _, err := ReadNewest(ctx, js, testStream, "log.a", Page{}, number(nil))
		require.Error(t, err)
	})

	t.Run("unknown stream", func(t *testing.T) {
		t.Parallel()
		_, _, err := ReadNewest(ctx, js, "NOPE", "log.a", Page{Limit: 1}, number(nil))
		require.ErrorIs(t, err, jetstream.ErrStreamNotFound)
	})
}

func TestReadNewestEach(t *testing.T) {
	t.Parallel()
	b := brokertest.New(t)
	ctx := context.Background()
	_, err := b.JS.CreateStream(ctx, jetstream.StreamConfig{Name: testStream, Subjects: []string{"log.>"}})
	require.NoError(t, err)
	// Values 1..10 in messages of several: "1" "2 3 4" "5 6" "7 8 9 10".
	for _, body := range []string{"1", "2 3 4", "5 6", "7 8 9 10"} {
		_, err := b.JS.Publish(ctx, "log.a", []byte(body))
		require.NoError(t, err)
	}
	read := func(t *testing.T, p Page, keep func(int) bool) ([]Entry[int], bool) {
		t.Helper()
		es, more, err := ReadNewestEach(ctx, b.JS, testStream, "log.a", p, func(m Msg, add func(int, int)) {
			for i, f := range strings.Fields(string(m.Data)) {
				if n, err := strconv.Atoi(f); err == nil && (keep == nil || keep(n)) {
					add(i, n)
				}
			}
		})
		require.NoError(t, err)
		return es, more
	}

	es, more := read(t, Page{Limit: 50}, nil)
	require.Equal(t, []int{10, 9, 8, 7, 6, 5, 4, 3, 2, 1}, values(es))
	require.False(t, more)
	require.Equal(t, 3, es[0].Index)
	require.Equal(t, es[0].Seq, es[3].Seq)
	require.Equal(t, 0, es[3].Index)

	// Pages end inside messages: the cursor is (Seq, Index).
	var pages [][]int
	p := Page{Limit: 4}
	for range 10 {
		es, more := read(t, p, nil)
		pages = append(pages, values(es))
		if !more {
			break
		}
		p.Before, p.BeforeIndex = es[len(es)-1].Seq, es[len(es)-1].Index
	}
	require.Equal(t, [][]int{{10, 9, 8, 7}, {6, 5, 4, 3}, {2, 1}}, pages)

	// Filtered values keep their index in the message.
	even := func(n int) bool { return n%2 == 0 }
	es, more = read(t, Page{Limit: 2}, even)
	require.Equal(t, []int{10, 8}, values(es))
	require.Equal(t, []int{3, 1}, []int{es[0].Index, es[1].Index})
	require.True(t, more)
	es, _ = read(t, Page{Limit: 2, Before: es[1].Seq, BeforeIndex: es[1].Index}, even)
	require.Equal(t, []int{6, 4}, values(es))
}

func TestReadNewestSince(t *testing.T) {
	t.Parallel()
	js := setup(t, 10)
	ctx := context.Background()
	s, err := js.Stream(ctx, testStream)
	require.NoError(t, err)

	// The reference: every log.a message stored at or after the time of
	// the 6th one.
	var all []Msg
	require.NoError(t, Scan(ctx, js, testStream, "log.a", Range{}, func(m Msg) error {
		all = append(all, m)
		return nil
	}))
	require.Len(t, all, 10)
	since := all[5].Time
	var want []int
	for i := len(all) - 1; i >= 0; i-- {
		if !all[i].Time.Before(since) {
			n, _ := strconv.Atoi(string(all[i].Data))
			want = append(want, n)
		}
	}
	require.GreaterOrEqual(t, len(want), 5)

	es, more, err := ReadNewest(ctx, js, testStream, "log.a", Page{Limit: 50, Since: since}, number(nil))
	require.NoError(t, err)
	require.Equal(t, want, values(es))
	require.False(t, more)

	// Nothing stored since: an empty page, without waiting.
	last, err := s.GetLastMsgForSubject(ctx, "log.>")
	require.NoError(t, err)
	es, _, err = ReadNewest(ctx, js, testStream, "log.a", Page{Limit: 50, Since: last.Time.Add(time.Second)}, number(nil))
	require.NoError(t, err)
	require.Empty(t, es)
}

func TestScan(t *testing.T) {
	t.Parallel()
	js := setup(t, 5)
	ctx := context.Background()
	scan := func(t *testing.T, filter string, r Range) []string {
		t.Helper()
		var got []string
		require.NoError(t, Scan(ctx, js, testStream, filter, r, func(m Msg) error {
			got = append(got, m.Subject+"="+string(m.Data))
			return nil
		}))
		return got
	}

	t.Run("all, oldest first, across subjects", func(t *testing.T) {
		t.Parallel()
		got := scan(t, "log.*", Range{})
		require.Len(t, got, 10)
		require.Equal(t, []string{"log.a=1", "log.b=b1", "log.a=2"}, got[:3])
	})

	t.Run("sequence range", func(t *testing.T) {
		t.Parallel()
		// Sequences: log.a=1 is 1, log.b=b1 is 2, log.a=2 is 3, ...
		require.Equal(t, []string{"log.a=2", "log.a=3"}, scan(t, "log.a", Range{From: 2, Through: 6}))
		require.Equal(t, []string{"log.b=b5"}, scan(t, "log.b", Range{From: 10}))
		require.Empty(t, scan(t, "log.b", Range{From: 11}))
		require.Equal(t, []string{"log.a=1"}, scan(t, "log.a", Range{Through: 2}))
	})

	t.Run("fn's error ends the scan", func(t *testing.T) {
		t.Parallel()
		errStop := fmt.Errorf("stop")
		n := 0
		err := Scan(ctx, js, testStream, "log.>", Range{}, func(Msg) error {
			n++
			if n == 3 {
				return errStop
			}
			return nil
		})
		require.ErrorIs(t, err, errStop)
		require.Equal(t, 3, n)
	})
}

func TestScanDeletingAsItGoes(t *testing.T) {
	t.Parallel()
	js := setup(t, 20)
	ctx := context.Background()
	s, err := js.Stream(ctx, testStream)
	require.NoError(t, err)
	n := 0
	require.NoError(t, Scan(ctx, js, testStream, "log.a", Range{}, func(m Msg) error {
		n++
		return s.DeleteMsg(ctx, m.Seq)
	}))
	require.Equal(t, 20, n)
	_, err = s.GetLastMsgForSubject(ctx, "log.a")
	require.ErrorIs(t, err, jetstream.ErrMsgNotFound)
	require.Empty(t, values(must(ReadNewest(ctx, js, testStream, "log.a", Page{Limit: 5}, number(nil)))))
}

// TestScanMessagesDeletedUnderIt deletes what the scan means to read after
// it fixed its range: it ends instead of waiting for them.
func TestScanMessagesDeletedUnderIt(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	for name, remove := range map[string]func(seqs []uint64) []uint64{
		"all of them":      func(seqs []uint64) []uint64 { return seqs },
		"the last of them": func(seqs []uint64) []uint64 { return seqs[len(seqs)-1:] },
	} {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			js := setup(t, 5)
			s, err := js.Stream(ctx, testStream)
			require.NoError(t, err)
			seqs := []uint64{1, 3, 5, 7, 9} // log.a
			gone := remove(seqs)
			sc := scanner{beforeConsume: func() {
				for _, seq := range gone {
					require.NoError(t, s.DeleteMsg(ctx, seq))
				}
			}}
			var got []uint64
			require.NoError(t, sc.scan(ctx, js, testStream, "log.a", Range{}, func(m Msg) error {
				got = append(got, m.Seq)
				return nil
			}))
			require.Equal(t, seqs[:len(seqs)-len(gone)], nilIfEmpty(got))
		})
	}
}

func nilIfEmpty(s []uint64) []uint64 {
	if len(s) == 0 {
		return []uint64{}
	}
	return s
}

func must[T any](es []Entry[T], _ bool, err error) []Entry[T] {
	if err != nil {
		panic(err)
	}
	return es
}
