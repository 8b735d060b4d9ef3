package proxy

import (
	"syscall"
	"testing"

	"github.com/google/go-cmp/cmp"
)

// TestNetlinkBatchOrder checks the batch holds the delta's messages in
// the order the kernel needs (what each message contains is checked on
// the kernel by TestDeltaConverges, against what nft writes).
func TestNetlinkBatchOrder(t *testing.T) {
	var tc deltaCase
	for _, c := range deltaCases() {
		if c.name == "affinity-timeout" {
			tc = c
		}
	}
	d := computeDelta(rulesetFor(tc.before), rulesetFor(tc.after), changedServices(tc.before, tc.after))
	b, err := d.netlinkBatch("t")
	if err != nil {
		t.Fatal(err)
	}
	msgs, err := syscall.ParseNetlinkMessage(b.buf)
	if err != nil {
		t.Fatal(err)
	}
	names := map[uint16]string{
		nfnlBatchBegin: "begin", nfnlBatchEnd: "end",
		nfnlSubsysNft<<8 | nftMsgNewSet: "newset", nfnlSubsysNft<<8 | nftMsgDelSet: "delset",
		nfnlSubsysNft<<8 | nftMsgNewChain: "newchain", nfnlSubsysNft<<8 | nftMsgDelChain: "delchain",
		nfnlSubsysNft<<8 | nftMsgNewRule: "newrule", nfnlSubsysNft<<8 | nftMsgDelRule: "flush",
		nfnlSubsysNft<<8 | nftMsgNewSetElem: "newelem", nfnlSubsysNft<<8 | nftMsgDelSetElem: "delelem",
	}
	var got []string
	for i, m := range msgs {
		if m.Header.Seq != uint32(i+1) || m.Header.Flags&syscall.NLM_F_REQUEST == 0 {
			t.Errorf("message %d: seq %d flags %#x", i, m.Header.Seq, m.Header.Flags)
		}
		got = append(got, names[m.Header.Type])
	}
	// Two new affinity sets; three chains rewritten (flushed, refilled:
	// the service chain's numgen map is a new anonymous map); the old sets
	// deleted last.
	want := []string{"begin", "newset", "newset", "flush", "flush", "flush",
		"newrule", "newrule", "newset", "newelem", "newrule",
		"newrule", "newrule", "newrule", "newrule", "newrule", "newrule",
		"delset", "delset", "end"}
	if d := cmp.Diff(want, got); d != "" {
		t.Errorf("batch (-want +got):\n%s", d)
	}
}
