import SwiftVFSCore
import XCTest

@testable import SwiftVFSFuse

#if canImport(Glibc)
  import Glibc
#endif

/// The native engine without a kernel: INIT negotiation as a pure function,
/// and requests handed to `FuseConnection.handle` whose replies are read
/// back from a socketpair standing in for /dev/fuse (one message per
/// writev, as the kernel takes one reply per write).
final class FuseEngineTests: XCTestCase {
  private func offer(minor: UInt32, flags: FuseInitFlags, major: UInt32 = 7) -> FuseInitIn {
    FuseInitIn(major: major, minor: minor, maxReadahead: 128 << 10, flags: flags)
  }

  private static let allFlags = FuseInitFlags(rawValue: (1 << 43) - 1)

  func testInitTakesTheKernelsMinorClampedToOurs() throws {
    let out = try XCTUnwrap(
      FuseConnection.negotiate(offer(minor: 46, flags: Self.allFlags), writebackCache: false))
    XCTAssertEqual(out.major, 7)
    XCTAssertEqual(out.minor, FuseProtocolVersion.minor)
    XCTAssertEqual(
      out.flags, FuseConnection.wanted.union([.posixACL, .dontMask]),
      "exactly what we want: \(out.flags)")
    XCTAssertEqual(out.maxPages, 256)
    XCTAssertEqual(out.maxWrite, 1 << 20)
    XCTAssertEqual(out.maxReadahead, 128 << 10, "never more than offered")
    XCTAssertEqual(out.timeGran, 1)
    let older = try XCTUnwrap(
      FuseConnection.negotiate(offer(minor: 31, flags: Self.allFlags), writebackCache: true))
    XCTAssertEqual(older.minor, 31)
    XCTAssertTrue(older.flags.contains(.writebackCache))
  }

  func testInitTakesOnlyWhatIsOffered() throws {
    let out = try XCTUnwrap(
      FuseConnection.negotiate(
        offer(minor: 45, flags: [.asyncRead, .posixACL, .bigWrites]), writebackCache: true))
    XCTAssertEqual(out.flags, [.asyncRead, .bigWrites], "POSIX_ACL only with DONT_MASK")
    XCTAssertEqual(out.maxPages, 0)
    XCTAssertEqual(out.maxWrite, 128 << 10, "32 pages without MAX_PAGES")
  }

  func testInitRefusesTooOldAndAnswersANewerMajorWithOurs() throws {
    XCTAssertNil(FuseConnection.negotiate(offer(minor: 11, flags: []), writebackCache: false))
    XCTAssertNil(
      FuseConnection.negotiate(offer(minor: 45, flags: [], major: 6), writebackCache: false))
    let newer = try XCTUnwrap(
      FuseConnection.negotiate(offer(minor: 0, flags: [], major: 8), writebackCache: false))
    XCTAssertEqual(newer.major, 7, "the kernel retries INIT with our major")
  }

  // MARK: - Requests through a socketpair

  private var pair: EngineOverSocketPair!
  private var connection: FuseConnection { pair.connection }
  private var channel: FuseChannel { pair.channel }

  override func setUpWithError() throws {
    pair = try EngineOverSocketPair()
  }

  override func tearDown() {
    pair.close()
    pair = nil
  }

  private func request(_ opcode: UInt32, unique: UInt64, nodeid: UInt64 = 1, _ body: [UInt8] = [])
    -> [UInt8]
  {
    EngineOverSocketPair.request(opcode, unique: unique, nodeid: nodeid, body)
  }

  private func handle(_ bytes: [UInt8]) { pair.handle(bytes) }

  private func reply() -> (header: FuseOutHeader, body: [UInt8])? { pair.reply() }

  func testGetattrOfTheRootIsAnAttrReply() throws {
    handle(request(FuseKernelOpcode.getattr.rawValue, unique: 7, [UInt8](repeating: 0, count: 16)))
    let r = try XCTUnwrap(reply())
    XCTAssertEqual(r.header.unique, 7)
    XCTAssertEqual(r.header.error, 0)
    XCTAssertEqual(r.body.count, FuseAttrOut.wireSize)
    let attr = FuseAttrOut(wire: FuseWireBytes(r.body))
    XCTAssertEqual(attr.attr.mode & 0o170000, 0o040000, "a directory")
    XCTAssertEqual(attr.attrValid, 3600)
  }

  func testLookupOfAMissingNameIsANegativeEntry() throws {
    handle(request(FuseKernelOpcode.lookup.rawValue, unique: 9, Array("nothing".utf8) + [0]))
    let r = try XCTUnwrap(reply())
    XCTAssertEqual(r.header.error, 0)
    let entry = FuseEntryOut(wire: FuseWireBytes(r.body))
    XCTAssertEqual(entry.nodeid, 0)
    XCTAssertEqual(entry.entryValid, 3600)
  }

  func testMkdirThenLookupGivesTheSameNode() throws {
    var w = FuseWireWriter()
    FuseMkdirIn(mode: 0o755, umask: 0o022).encode(into: &w)
    handle(request(FuseKernelOpcode.mkdir.rawValue, unique: 11, w.bytes + Array("d".utf8) + [0]))
    let made = FuseEntryOut(wire: FuseWireBytes(try XCTUnwrap(reply()).body))
    XCTAssertNotEqual(made.nodeid, 0)
    XCTAssertEqual(made.attr.mode, 0o040755)
    handle(request(FuseKernelOpcode.lookup.rawValue, unique: 13, Array("d".utf8) + [0]))
    let found = FuseEntryOut(wire: FuseWireBytes(try XCTUnwrap(reply()).body))
    XCTAssertEqual(found.nodeid, made.nodeid)
  }

  func testBadRequestsGetTheDecodersErrnoOrNothing() throws {
    // Unknown opcode: ENOSYS.
    handle(request(9999, unique: 21))
    XCTAssertEqual(try XCTUnwrap(reply()).header.error, -ENOSYS)
    // A header whose len disagrees with the bytes: EIO.
    var lying = request(
      FuseKernelOpcode.getattr.rawValue, unique: 23, [UInt8](repeating: 0, count: 16))
    lying[0] = 200
    handle(lying)
    let r = try XCTUnwrap(reply())
    XCTAssertEqual(r.header.unique, 23)
    XCTAssertEqual(r.header.error, -EIO)
    // A name without its NUL: EINVAL.
    handle(request(FuseKernelOpcode.lookup.rawValue, unique: 25, Array("abc".utf8)))
    XCTAssertEqual(try XCTUnwrap(reply()).header.error, -EINVAL)
    // Too short for a header: nothing to answer.
    handle([1, 2, 3])
    XCTAssertNil(reply())
    // FORGET and INTERRUPT are never answered.
    handle(request(FuseKernelOpcode.forget.rawValue, unique: 27, [UInt8](repeating: 0, count: 8)))
    handle(
      request(FuseKernelOpcode.interrupt.rawValue, unique: 29, [UInt8](repeating: 0, count: 8)))
    XCTAssertNil(reply())
    // Random bytes never crash the engine.
    var generator = SystemRandomNumberGenerator()
    for _ in 0..<2000 {
      var bytes = (0..<Int.random(in: 0..<120, using: &generator)).map { _ in
        UInt8.random(in: 0...255, using: &generator)
      }
      if bytes.count >= 4 {
        bytes.replaceSubrange(
          0..<4, with: withUnsafeBytes(of: UInt32(bytes.count).littleEndian, Array.init))
      }
      handle(bytes)
      while reply() != nil {}
    }
  }

  func testInterruptBeforeRegistrationStillReachesTheRequest() {
    var header = FuseInHeader(len: 40, opcode: 0, unique: 31, nodeid: 1)
    let early = FuseChannelRequest(header: header, umask: 0, fd: channel.fd, connection: connection)
    connection.interrupts.interrupt(31)
    let called = expectation(description: "callback")
    early.onInterrupt { called.fulfill() }
    wait(for: [called], timeout: 5)
    early.onInterrupt(nil)
    header.unique = 33
    let late = FuseChannelRequest(header: header, umask: 0, fd: channel.fd, connection: connection)
    let lateCalled = expectation(description: "late callback")
    late.onInterrupt { lateCalled.fulfill() }
    connection.interrupts.interrupt(33)
    wait(for: [lateCalled], timeout: 5)
    late.onInterrupt(nil)
    connection.interrupts.interrupt(33)  // unregistered: kept, never called
  }
}
