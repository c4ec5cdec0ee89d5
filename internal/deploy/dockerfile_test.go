package deploy

import (
	"debug/elf"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"
)

// deploy/Dockerfile builds a static, version-stamped binary in one stage and
// ships it alone, as a non-root user, with the binary as its HEALTHCHECK;
// .ci/run builds with the same flags.
func TestDockerfile(t *testing.T) {
	t.Parallel()
	b, err := os.ReadFile(filepath.Join(root, "deploy/Dockerfile"))
	require.NoError(t, err)
	df := string(b)
	require.Len(t, regexp.MustCompile(`(?m)^FROM `).FindAllString(df, -1), 2, "multi-stage")
	require.Regexp(t, `(?m)^FROM gcr\.io/distroless/static[^ ]*:nonroot$`, df, "a small final image without a shell")
	require.Regexp(t, `(?m)^USER [1-9][0-9]*:[1-9][0-9]*$`, df, "non-root")
	require.Regexp(t, `(?m)^HEALTHCHECK .*\n\s+CMD \["/usr/local/bin/hookstream", "healthcheck"\]`, df)
	require.Regexp(t, `(?m)^ENTRYPOINT \["/usr/local/bin/hookstream"\]$`, df)
	// The Go of the build stage is the one go.mod asks for.
	gomod, err := os.ReadFile(filepath.Join(root, "go.mod"))
	require.NoError(t, err)
	goVersion := regexp.MustCompile(`(?m)^go (\d+\.\d+)`).FindStringSubmatch(string(gomod))[1]
	require.Regexp(t, `(?m)^FROM golang:`+regexp.QuoteMeta(goVersion)+`[-.]`, df)

	env, args, err := dockerfileBuild("${VERSION}")
	require.NoError(t, err)
	require.Contains(t, env, "CGO_ENABLED=0", "static")
	// The binary built with those flags (TestMain's) is static and stamped.
	out, err := exec.Command(binary, "version").Output()
	require.NoError(t, err)
	require.Equal(t, "hookstream "+stampVersion, strings.TrimSpace(string(out)))
	f, err := elf.Open(binary)
	require.NoError(t, err)
	defer f.Close()
	for _, p := range f.Progs {
		require.NotEqual(t, elf.PT_INTERP, p.Type, "statically linked: no program interpreter")
	}

	// .ci/run builds with the same flags (its own version).
	ci, err := os.ReadFile(filepath.Join(root, ".ci/run"))
	require.NoError(t, err)
	ciText := strings.ReplaceAll(string(ci), "\\\n", " ")
	var ciBuild string
	for line := range strings.SplitSeq(ciText, "\n") {
		if strings.Contains(line, "go build") && strings.Contains(line, "./cmd/hookstream") {
			ciBuild = line
		}
	}
	require.NotEmpty(t, ciBuild, ".ci/run builds the binary")
	ciWords, err := shellWords(regexp.MustCompile(`Version=[^ "]+`).ReplaceAllLiteralString(ciBuild, "Version=${VERSION}"))
	require.NoError(t, err)
	require.Contains(t, ciText, "export GOTOOLCHAIN=local", "as the Dockerfile's build does")
	for _, want := range append(env, args...) {
		if want == "GOTOOLCHAIN=local" {
			continue // exported for the whole of .ci/run
		}
		require.Contains(t, ciWords, want, ".ci/run builds as deploy/Dockerfile does")
	}
}
