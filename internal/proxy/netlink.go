package proxy

import (
	"encoding/binary"
	"fmt"
	"strings"
	"syscall"
)

// This file sends a partial sync (a delta) to the kernel as one nf_tables
// netlink batch, without the nft command. nft 1.0.6 reads every chain and
// set of the family into its cache before each transaction: with 1,000
// services x 10 endpoints that is 11,000 chains and ~50 ms per change,
// more than the kernel's own commit. The batch holds exactly the
// expressions nft writes for the same text (rule.String); the convergence
// tests compare what the kernel lists after each path.
//
// Only per-service objects are written here: chains, their rules, the
// affinity sets and the entries of the base maps. Full syncs, with the
// hooked chains and the maps themselves, stay with nft.

// nf_tables netlink numbers (linux/netfilter/nfnetlink.h, nf_tables.h).
const (
	netlinkNetfilter = 12 // NETLINK_NETFILTER
	solNetlink       = 270
	netlinkCapAck    = 10
	nfprotoIPv4      = 2
	nfnlSubsysNft    = 10
	nfnlBatchBegin   = 0x10
	nfnlBatchEnd     = 0x11

	nftMsgNewChain   = 3
	nftMsgDelChain   = 5
	nftMsgNewRule    = 6
	nftMsgDelRule    = 8
	nftMsgNewSet     = 9
	nftMsgDelSet     = 11
	nftMsgNewSetElem = 12
	nftMsgDelSetElem = 14

	nlaFNested = 0x8000

	attrChainTable, attrChainName, attrChainUserdata = 1, 3, 12
	attrRuleTable, attrRuleChain, attrRuleExprs      = 1, 2, 4
	attrListElem                                     = 1
	attrExprName, attrExprData                       = 1, 2
	attrDataValue, attrDataVerdict                   = 1, 2
	attrVerdictCode, attrVerdictChain                = 1, 2

	attrSetTable, attrSetName, attrSetFlags, attrSetKeyType, attrSetKeyLen   = 1, 2, 3, 4, 5
	attrSetDataType, attrSetDataLen, attrSetDesc, attrSetID, attrSetTimeout  = 6, 7, 9, 10, 11
	attrSetUserdata, attrSetDescSize                                         = 13, 1
	attrElemListTable, attrElemListSet, attrElemListElements, attrElemListID = 1, 2, 3, 4
	attrElemKey, attrElemData                                                = 1, 2

	setAnonymous, setConstant, setMap, setTimeout, setEval = 0x1, 0x2, 0x8, 0x10, 0x20
	typeInteger, typeIPv4Addr                              = 4, 7
	dataVerdict                                            = 0xffffff00
	udataKeyByteorder, byteorderHost, byteorderBig         = 0, 1, 2
	udataChainComment                                      = 0

	verdictGotoCode = 0xfffffffc // NFT_GOTO (-4)
	verdictDropCode = 0          // NF_DROP

	regVerdict, reg1, reg2 = 0, 1, 2
	rtnLocal               = 2
)

// attrs builds netlink attributes.
type attrs []byte

func (a *attrs) add(typ uint16, data []byte) {
	var hdr [4]byte
	binary.NativeEndian.PutUint16(hdr[0:], uint16(4+len(data)))
	binary.NativeEndian.PutUint16(hdr[2:], typ)
	*a = append(*a, hdr[:]...)
	*a = append(*a, data...)
	for len(*a)%4 != 0 {
		*a = append(*a, 0)
	}
}

func (a *attrs) str(typ uint16, s string) { a.add(typ, append([]byte(s), 0)) }
func (a *attrs) u32(typ uint16, v uint32) { a.add(typ, binary.BigEndian.AppendUint32(nil, v)) }
func (a *attrs) u64(typ uint16, v uint64) { a.add(typ, binary.BigEndian.AppendUint64(nil, v)) }
func (a *attrs) nest(typ uint16, f func(*attrs)) {
	var inner attrs
	f(&inner)
	a.add(typ|nlaFNested, inner)
}

// data adds an NFTA_DATA_VALUE nested in typ.
func (a *attrs) data(typ uint16, v []byte) {
	a.nest(typ, func(n *attrs) { n.add(attrDataValue, v) })
}

// verdict adds an NFTA_DATA_VERDICT nested in typ: "goto <chain>" or
// "drop".
func (a *attrs) verdict(typ uint16, v string) {
	a.nest(typ, func(d *attrs) {
		d.nest(attrDataVerdict, func(vd *attrs) {
			if chain, ok := strings.CutPrefix(v, "goto "); ok {
				vd.u32(attrVerdictCode, verdictGotoCode)
				vd.str(attrVerdictChain, chain)
			} else {
				vd.u32(attrVerdictCode, verdictDropCode)
			}
		})
	})
}

// udata is libnftnl's user data: type, length, value.
func udata(typ byte, v []byte) []byte { return append([]byte{typ, byte(len(v))}, v...) }

func udataU32(typ byte, v uint32) []byte {
	return udata(typ, binary.NativeEndian.AppendUint32(nil, v))
}

// exprs builds a rule's expression list.
type exprs struct{ list attrs }

func (e *exprs) add(name string, f func(*attrs)) {
	e.list.nest(attrListElem, func(el *attrs) {
		el.str(attrExprName, name)
		el.nest(attrExprData, f)
	})
}

func (e *exprs) loadSaddr() {
	e.add("payload", func(a *attrs) {
		a.u32(1, reg1) // DREG
		a.u32(2, 1)    // BASE: network header
		a.u32(3, 12)   // OFFSET: ip saddr
		a.u32(4, 4)    // LEN
	})
}

func (e *exprs) cmpEq(v []byte) {
	e.add("cmp", func(a *attrs) {
		a.u32(1, reg1) // SREG
		a.u32(2, 0)    // OP: eq
		a.data(3, v)   // DATA
	})
}

// markOr is "meta mark set meta mark or 0x4000".
func (e *exprs) markOr() {
	const mark = 3 // NFT_META_MARK
	e.add("meta", func(a *attrs) { a.u32(1, reg1); a.u32(2, mark) })
	e.add("bitwise", func(a *attrs) {
		a.u32(1, reg1) // SREG
		a.u32(2, reg1) // DREG
		a.u32(3, 4)    // LEN
		a.data(4, binary.NativeEndian.AppendUint32(nil, ^uint32(0x4000)))
		a.data(5, binary.NativeEndian.AppendUint32(nil, 0x4000))
	})
	e.add("meta", func(a *attrs) { a.u32(2, mark); a.u32(3, reg1) })
}

func (e *exprs) verdict(v string) {
	e.add("immediate", func(a *attrs) {
		a.u32(1, regVerdict)
		a.verdict(2, v)
	})
}

func (e *exprs) immediate(reg uint32, v []byte) {
	e.add("immediate", func(a *attrs) {
		a.u32(1, reg)
		a.data(2, v)
	})
}

func protoNumber(proto string) (byte, error) {
	switch proto {
	case "tcp":
		return 6, nil
	case "udp":
		return 17, nil
	case "sctp":
		return 132, nil
	}
	return 0, fmt.Errorf("proxy: protocol %q", proto)
}

// nlBatch is one nf_tables transaction being built.
type nlBatch struct {
	table string
	buf   []byte
	seq   uint32
	// what names each message for errors, by sequence number.
	what  map[uint32]string
	setID uint32
	err   error
}

func newBatch(table string) *nlBatch {
	b := &nlBatch{table: table, what: map[uint32]string{}}
	b.msg(nfnlBatchBegin, syscall.NLM_F_REQUEST, syscall.AF_UNSPEC, nfnlSubsysNft, nil, "")
	return b
}

// msg appends one netlink message with its nfgenmsg header.
func (b *nlBatch) msg(typ uint16, flags uint16, family byte, resID uint16, body attrs, what string) {
	b.seq++
	length := syscall.NLMSG_HDRLEN + 4 + len(body)
	var hdr [syscall.NLMSG_HDRLEN + 4]byte
	binary.NativeEndian.PutUint32(hdr[0:], uint32(length))
	binary.NativeEndian.PutUint16(hdr[4:], typ)
	binary.NativeEndian.PutUint16(hdr[6:], flags)
	binary.NativeEndian.PutUint32(hdr[8:], b.seq)
	hdr[16] = family
	binary.BigEndian.PutUint16(hdr[18:], resID)
	b.buf = append(b.buf, hdr[:]...)
	b.buf = append(b.buf, body...)
	if what != "" {
		b.what[b.seq] = what
	}
}

func (b *nlBatch) nft(msg uint16, flags uint16, body attrs, what string) {
	b.msg(nfnlSubsysNft<<8|msg, syscall.NLM_F_REQUEST|syscall.NLM_F_ACK|flags, nfprotoIPv4, 0, body, what)
}

func (b *nlBatch) newAffinitySet(name string, timeout int32) {
	var a attrs
	a.str(attrSetTable, b.table)
	a.str(attrSetName, name)
	a.u32(attrSetFlags, setTimeout|setEval)
	a.u32(attrSetKeyType, typeIPv4Addr)
	a.u32(attrSetKeyLen, 4)
	b.setID++
	a.u32(attrSetID, b.setID)
	a.u64(attrSetTimeout, uint64(timeout)*1000)
	a.nest(attrSetDesc, func(d *attrs) { d.u32(attrSetDescSize, 65535) })
	a.add(attrSetUserdata, udataU32(udataKeyByteorder, byteorderBig))
	b.nft(nftMsgNewSet, syscall.NLM_F_CREATE, a, "add set "+name)
}

func (b *nlBatch) newChain(name, comment string) {
	var a attrs
	a.str(attrChainTable, b.table)
	a.str(attrChainName, name)
	if comment != "" {
		a.add(attrChainUserdata, udata(udataChainComment, append([]byte(comment), 0)))
	}
	b.nft(nftMsgNewChain, syscall.NLM_F_CREATE, a, "add chain "+name)
}

func (b *nlBatch) flushChain(name string) {
	var a attrs
	a.str(attrRuleTable, b.table)
	a.str(attrRuleChain, name)
	b.nft(nftMsgDelRule, 0, a, "flush chain "+name)
}

func (b *nlBatch) delChain(name string) {
	var a attrs
	a.str(attrChainTable, b.table)
	a.str(attrChainName, name)
	b.nft(nftMsgDelChain, 0, a, "delete chain "+name)
}

func (b *nlBatch) delSet(name string) {
	var a attrs
	a.str(attrSetTable, b.table)
	a.str(attrSetName, name)
	b.nft(nftMsgDelSet, 0, a, "delete set "+name)
}

// elements adds or deletes entries of one base map.
func (b *nlBatch) elements(msg uint16, m string, elems []element) {
	var a attrs
	a.str(attrElemListTable, b.table)
	a.str(attrElemListSet, m)
	var keyErr error
	a.nest(attrElemListElements, func(list *attrs) {
		for _, e := range elems {
			key, err := elementKey(e.elemKey)
			if err != nil {
				keyErr = err
				return
			}
			list.nest(attrListElem, func(el *attrs) {
				el.data(attrElemKey, key)
				if msg == nftMsgNewSetElem {
					el.verdict(attrElemData, e.verdict)
				}
			})
		}
	})
	if keyErr != nil {
		b.err = keyErr
		return
	}
	verb := "add"
	flags := uint16(syscall.NLM_F_CREATE)
	if msg == nftMsgDelSetElem {
		verb, flags = "delete", 0
	}
	b.nft(msg, flags, a, fmt.Sprintf("%s element %s { %s ... }", verb, m, elems[0].String()))
}

// elementKey encodes a map key as nft does: each field of a concatenation
// padded to 4 bytes, addresses and ports in network order.
func elementKey(k elemKey) ([]byte, error) {
	proto, err := protoNumber(k.proto)
	if err != nil {
		return nil, err
	}
	var key []byte
	if k.ip.IsValid() {
		ip := k.ip.As4()
		key = append(key, ip[:]...)
	}
	key = append(key, proto, 0, 0, 0)
	key = binary.BigEndian.AppendUint16(key, uint16(k.port))
	return append(key, 0, 0), nil
}

// newRule appends one rule to a chain.
func (b *nlBatch) newRule(chain string, r rule) {
	var e exprs
	switch r.kind {
	case ruleMarkFrom:
		ip := r.ip.As4()
		e.loadSaddr()
		e.cmpEq(ip[:])
		e.markOr()
	case ruleAffinityUpdate:
		e.loadSaddr()
		e.add("dynset", func(a *attrs) {
			a.str(1, r.set) // SET_NAME
			a.u32(3, 1)     // OP: update
			a.u32(4, reg1)  // SREG_KEY
		})
	case ruleDNAT:
		proto, err := protoNumber(r.proto)
		if err != nil {
			b.err = err
			return
		}
		ip := r.ip.As4()
		e.add("meta", func(a *attrs) { a.u32(1, reg1); a.u32(2, 16) }) // l4proto
		e.cmpEq([]byte{proto})
		e.immediate(reg1, ip[:])
		e.immediate(reg2, binary.BigEndian.AppendUint16(nil, uint16(r.port)))
		e.add("nat", func(a *attrs) {
			a.u32(1, 1)           // TYPE: dnat
			a.u32(2, nfprotoIPv4) // FAMILY
			a.u32(3, reg1)        // REG_ADDR_MIN
			a.u32(5, reg2)        // REG_PROTO_MIN
			a.u32(7, 2)           // FLAGS: proto specified
		})
	case ruleAffinityGoto:
		e.loadSaddr()
		e.add("lookup", func(a *attrs) {
			a.str(1, r.set) // SET
			a.u32(2, reg1)  // SREG
		})
		e.verdict("goto " + r.target)
	case ruleGoto:
		e.verdict("goto " + r.target)
	case ruleBalance:
		id := b.anonymousMap(chain, r.targets)
		e.add("numgen", func(a *attrs) {
			a.u32(1, reg1)                   // DREG
			a.u32(2, uint32(len(r.targets))) // MODULUS
			a.u32(3, 1)                      // TYPE: random
			a.u32(4, 0)                      // OFFSET
		})
		e.add("lookup", func(a *attrs) {
			a.str(1, "__map%d") // SET
			a.u32(2, reg1)      // SREG
			a.u32(3, regVerdict)
			a.u32(4, id) // SET_ID
		})
	case ruleMarkGoto:
		e.markOr()
		e.verdict("goto " + r.target)
	case ruleLocalMarkGoto:
		e.add("fib", func(a *attrs) {
			a.u32(1, reg1) // DREG
			a.u32(2, 3)    // RESULT: address type
			a.u32(3, 1)    // FLAGS: saddr
		})
		e.cmpEq(binary.NativeEndian.AppendUint32(nil, rtnLocal))
		e.markOr()
		e.verdict("goto " + r.target)
	default:
		b.err = fmt.Errorf("proxy: no netlink encoding for rule %q", r)
		return
	}
	var a attrs
	a.str(attrRuleTable, b.table)
	a.str(attrRuleChain, chain)
	a.add(attrRuleExprs|nlaFNested, e.list)
	b.nft(nftMsgNewRule, syscall.NLM_F_CREATE|syscall.NLM_F_APPEND, a, fmt.Sprintf("add rule %s %s", chain, r))
}

// anonymousMap creates the constant verdict map of a numgen rule: keys
// are numgen's results, in host order.
func (b *nlBatch) anonymousMap(chain string, targets []string) uint32 {
	b.setID++
	id := b.setID
	var a attrs
	a.str(attrSetTable, b.table)
	a.str(attrSetName, "__map%d")
	a.u32(attrSetFlags, setAnonymous|setConstant|setMap)
	a.u32(attrSetKeyType, typeInteger)
	a.u32(attrSetKeyLen, 4)
	a.u32(attrSetDataType, dataVerdict)
	a.u32(attrSetDataLen, 0)
	a.u32(attrSetID, id)
	a.nest(attrSetDesc, func(d *attrs) { d.u32(attrSetDescSize, uint32(len(targets))) })
	a.add(attrSetUserdata, udataU32(udataKeyByteorder, byteorderHost))
	b.nft(nftMsgNewSet, syscall.NLM_F_CREATE, a, "add anonymous map in "+chain)

	var el attrs
	el.str(attrElemListTable, b.table)
	el.str(attrElemListSet, "__map%d")
	el.u32(attrElemListID, id)
	el.nest(attrElemListElements, func(list *attrs) {
		for i, t := range targets {
			list.nest(attrListElem, func(e *attrs) {
				e.data(attrElemKey, binary.NativeEndian.AppendUint32(nil, uint32(i)))
				e.verdict(attrElemData, "goto "+t)
			})
		}
	})
	b.nft(nftMsgNewSetElem, syscall.NLM_F_CREATE, el, "add elements of the anonymous map in "+chain)
	return id
}

// netlinkBatch encodes the delta as one nf_tables batch.
func (d *delta) netlinkBatch(table string) (*nlBatch, error) {
	b := newBatch(table)
	for _, s := range d.addedSets {
		b.newAffinitySet(s.name, s.timeout)
	}
	for _, c := range d.added {
		b.newChain(c.name, c.c.comment)
	}
	for _, c := range d.rewritten {
		b.flushChain(c.name)
	}
	for _, list := range [][]namedChain{d.added, d.rewritten} {
		for _, c := range list {
			for _, r := range c.c.rules {
				b.newRule(c.name, r)
			}
		}
	}
	for _, op := range []struct {
		msg   uint16
		elems []element
	}{{nftMsgDelSetElem, d.delElems}, {nftMsgNewSetElem, d.addElems}} {
		byMap := map[string][]element{}
		for _, e := range op.elems {
			byMap[e.m] = append(byMap[e.m], e)
		}
		for _, m := range baseMaps {
			if list := byMap[m.name]; len(list) > 0 {
				b.elements(op.msg, m.name, list)
			}
		}
	}
	for _, name := range d.removedChains {
		b.flushChain(name)
	}
	for _, name := range d.removedChains {
		b.delChain(name)
	}
	for _, name := range d.removedSets {
		b.delSet(name)
	}
	b.msg(nfnlBatchEnd, syscall.NLM_F_REQUEST, syscall.AF_UNSPEC, nfnlSubsysNft, nil, "")
	return b, b.err
}

// send runs the batch as one transaction and returns the first error the
// kernel reports. The kernel handles a netfilter batch while sendto runs,
// so every reply is queued when it returns: success is an ack for every
// message and no error (a failed commit is reported after the acks, on
// the batch's end).
func (b *nlBatch) send() error {
	fd, err := syscall.Socket(syscall.AF_NETLINK, syscall.SOCK_RAW|syscall.SOCK_CLOEXEC, netlinkNetfilter)
	if err != nil {
		return fmt.Errorf("proxy: netlink socket: %w", err)
	}
	defer syscall.Close(fd)
	if err := syscall.Bind(fd, &syscall.SockaddrNetlink{Family: syscall.AF_NETLINK}); err != nil {
		return fmt.Errorf("proxy: netlink bind: %w", err)
	}
	// Acks without a copy of the request; buffers for big batches.
	_ = syscall.SetsockoptInt(fd, solNetlink, netlinkCapAck, 1)
	if len(b.buf) > 128<<10 {
		_ = syscall.SetsockoptInt(fd, syscall.SOL_SOCKET, syscall.SO_SNDBUFFORCE, 2*len(b.buf))
	}
	// Every ack is a buffer of its own (about 1 KiB of truesize for its
	// 36 bytes), all queued before the first is read: a batch of
	// thousands of messages needs megabytes, or the kernel drops acks
	// (ENOBUFS) although the transaction was applied.
	_ = syscall.SetsockoptInt(fd, syscall.SOL_SOCKET, syscall.SO_RCVBUFFORCE, 2048*len(b.what)+(1<<20))
	if err := syscall.Sendto(fd, b.buf, 0, &syscall.SockaddrNetlink{Family: syscall.AF_NETLINK}); err != nil {
		return fmt.Errorf("proxy: netlink send: %w", err)
	}
	acked := 0
	rb := make([]byte, 1<<16)
	for {
		n, _, err := syscall.Recvfrom(fd, rb, syscall.MSG_DONTWAIT)
		if err == syscall.EAGAIN && acked == len(b.what) {
			return nil
		}
		if err != nil {
			return fmt.Errorf("proxy: netlink: %d of %d messages acknowledged: %w", acked, len(b.what), err)
		}
		msgs, err := syscall.ParseNetlinkMessage(rb[:n])
		if err != nil {
			return fmt.Errorf("proxy: netlink reply: %w", err)
		}
		for _, m := range msgs {
			if m.Header.Type != syscall.NLMSG_ERROR || len(m.Data) < 4 {
				continue
			}
			if code := int32(binary.NativeEndian.Uint32(m.Data)); code != 0 {
				what := b.what[m.Header.Seq]
				if what == "" {
					what = "commit"
				}
				return fmt.Errorf("proxy: netlink: %s: %w", what, syscall.Errno(-code))
			}
			acked++
		}
	}
}
