package agent_test

import (
	"testing"

	"github.com/navarch/navarch/test/framework"
)

// TestMain removes the navarch binary the tests built for kubectl, once
// they ran.
func TestMain(m *testing.M) { framework.Main(m) }
