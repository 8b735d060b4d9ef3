package e2e

import (
	"testing"

	"github.com/navarch/navarch/test/framework"
)

// TestMain removes the navarch binary the tests built, once they ran.
func TestMain(m *testing.M) { framework.Main(m) }
