package cli_test

import (
	"testing"

	"github.com/hookstream/hookstream/internal/testproc"
	"go.uber.org/goleak"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m, testproc.LeakOptions...) }
