import SwiftVFS
import XCTest

@testable import SwiftVFSCore
@testable import SwiftVFSFileSystems
@testable import SwiftVFSFuse

#if canImport(Glibc)
  import Glibc
#endif

/// TMPFILE, STATX and SYNCFS through the native engine, from a socketpair
/// standing in for /dev/fuse: the replies' shapes as fuse_create_open(),
/// fuse_do_statx() and fuse_sync_fs() read them.
final class FuseNativeRequestsTests: XCTestCase {
  private var pair: EngineOverSocketPair!
  private var harness: MemfsHarness { pair.harness }

  override func setUpWithError() throws {
    pair = try EngineOverSocketPair()
  }

  override func tearDown() {
    pair.close()
    pair = nil
  }

  private func send(_ opcode: FuseKernelOpcode, unique: UInt64, nodeid: UInt64 = 1, _ body: [UInt8])
  {
    pair.send(opcode, unique: unique, nodeid: nodeid, body)
  }

  private func reply(file: StaticString = #filePath, line: UInt = #line) throws -> (
    header: FuseOutHeader, body: [UInt8]
  ) {
    try XCTUnwrap(pair.reply(file: file, line: line), "a reply is waiting", file: file, line: line)
  }

  private func calls(_ opcode: String) -> UInt64 {
    harness.vfs.requests.table.first { $0.opcode == opcode }?.calls ?? 0
  }

  func testTmpfileIsACreateReplyOfAnUnlinkedOpenFile() throws {
    var w = FuseWireWriter()
    FuseCreateIn(flags: UInt32(O_RDWR), mode: 0o100600).encode(into: &w)
    send(.tmpfile, unique: 3, w.bytes + Array("/".utf8) + [0])
    let r = try reply()
    XCTAssertEqual(r.header.error, 0)
    XCTAssertEqual(r.body.count, FuseEntryOut.wireSize + FuseOpenOut.wireSize)
    let entry = FuseEntryOut(wire: FuseWireBytes(r.body))
    XCTAssertNotEqual(entry.nodeid, 0)
    XCTAssertEqual(entry.attr.nlink, 0)
    XCTAssertEqual(entry.attr.mode, 0o100600)
    XCTAssertEqual(harness.vfs.openFileCount, 1)
    XCTAssertEqual(calls("TMPFILE"), 1)
  }

  func testTmpfileInAFileIsENOTDIR() throws {
    try harness.file(harness.root, "f")
    let f = try harness.vfs.lookup(harness.root, "f")
    var w = FuseWireWriter()
    FuseCreateIn(flags: UInt32(O_RDWR), mode: 0o100600).encode(into: &w)
    send(.tmpfile, unique: 4, nodeid: f.ino, w.bytes + Array("/".utf8) + [0])
    XCTAssertEqual(try reply().header.error, -ENOTDIR)
  }

  func testStatxCarriesTheBirthTime() throws {
    let before = Timestamp.now
    try harness.file(harness.root, "f")
    let f = try harness.vfs.lookup(harness.root, "f")
    var w = FuseWireWriter()
    FuseStatxIn(getattrFlags: 0, fh: 0, sxFlags: 0, sxMask: 0xfff).encode(into: &w)
    send(.statx, unique: 5, nodeid: f.ino, w.bytes)
    let r = try reply()
    XCTAssertEqual(r.header.error, 0)
    XCTAssertEqual(r.body.count, FuseStatxOut.wireSize)
    let out = FuseStatxOut(wire: FuseWireBytes(r.body))
    XCTAssertEqual(out.stat.mask, FuseStatx.basicStats | FuseStatx.btimeMask)
    XCTAssertEqual(out.stat.mode, 0o100644)
    XCTAssertEqual(out.stat.nlink, 1)
    XCTAssertEqual(out.attrValid, 3600)
    let born = try XCTUnwrap(harness.vfs.getattr(f).btime)
    XCTAssertEqual(out.stat.btime, FuseSxTime(sec: born.sec, nsec: UInt32(born.nsec)))
    XCTAssertTrue(before <= born)
  }

  func testSyncfsIsAnsweredAndCounted() throws {
    send(.syncfs, unique: 6, [UInt8](repeating: 0, count: 8))
    let r = try reply()
    XCTAssertEqual(r.header.error, 0)
    XCTAssertEqual(r.body.count, 0)
    XCTAssertEqual(calls("SYNCFS"), 1)
  }

  func testAllowIdmapIsAskedWithInitExtOnlyWithDefaultPermissions() throws {
    let offer = FuseInitIn(
      major: 7, minor: 45, maxReadahead: 1 << 20, flags: [.initExt, .allowIdmap, .asyncRead])
    let with = try XCTUnwrap(FuseConnection.negotiate(offer, writebackCache: false, idmap: true))
    XCTAssertTrue(with.flags.isSuperset(of: [.allowIdmap, .initExt]))
    let without = try XCTUnwrap(FuseConnection.negotiate(offer, writebackCache: false))
    XCTAssertFalse(without.flags.contains(.allowIdmap))
    let old = FuseInitIn(major: 7, minor: 38, maxReadahead: 1 << 20, flags: [.asyncRead])
    let notOffered = try XCTUnwrap(
      FuseConnection.negotiate(old, writebackCache: false, idmap: true))
    XCTAssertFalse(notOffered.flags.contains(.allowIdmap))
  }
}
