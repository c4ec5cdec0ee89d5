package e2e

import (
	"testing"

	"github.com/hookstream/hookstream/internal/testproc"
	"go.uber.org/goleak"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m, testproc.LeakOptions...) }
