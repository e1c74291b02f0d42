// The native engine without a kernel: a memfs VFS served by a
// FuseConnection, with a socketpair standing in for /dev/fuse (one message
// per reply, SOCK_SEQPACKET, as the device gives one request per read).

import SwiftVFS
import XCTest

@testable import SwiftVFSCore
@testable import SwiftVFSFileSystems
@testable import SwiftVFSFuse

#if canImport(Glibc)
  import Glibc
#endif

final class EngineOverSocketPair {
  let harness: MemfsHarness
  let connection: FuseConnection
  let channel: FuseChannel
  /// The kernel's end: replies are read here.
  let kernelEnd: Int32

  init() throws {
    harness = try MemfsHarness()
    var fds: [Int32] = [-1, -1]
    XCTAssertEqual(socketpair(AF_UNIX, Int32(SOCK_SEQPACKET.rawValue), 0, &fds), 0)
    kernelEnd = fds[1]
    let bridge = FuseBridge(vfs: harness.vfs, options: FuseBridge.Options())
    connection = FuseConnection(bridge: bridge, sessionFD: fds[0], threads: 1)
    channel = FuseChannel.session(fds[0])
  }

  /// Closes both ends.
  func close() {
    Glibc.close(channel.fd)
    Glibc.close(kernelEnd)
  }

  /// A request as the kernel writes it: fuse_in_header (len filled in),
  /// then `body`.
  static func request(_ opcode: UInt32, unique: UInt64, nodeid: UInt64 = 1, _ body: [UInt8] = [])
    -> [UInt8]
  {
    var w = FuseWireWriter()
    FuseInHeader(
      len: UInt32(FuseInHeader.wireSize + body.count), opcode: opcode, unique: unique,
      nodeid: nodeid
    )
    .encode(into: &w)
    w.raw(body)
    return w.bytes
  }

  /// Hands `bytes` to the engine as one request read from the device.
  func handle(_ bytes: [UInt8]) {
    bytes.withUnsafeBytes { connection.handle($0, channel: channel) }
  }

  /// Sends the request `opcode` with `body`.
  func send(_ opcode: FuseKernelOpcode, unique: UInt64, nodeid: UInt64 = 1, _ body: [UInt8]) {
    handle(EngineOverSocketPair.request(opcode.rawValue, unique: unique, nodeid: nodeid, body))
  }

  /// The next reply on the kernel's end: its header and body; nil if none
  /// is waiting. A reply's `len` must be its whole size.
  func reply(file: StaticString = #filePath, line: UInt = #line)
    -> (header: FuseOutHeader, body: [UInt8])?
  {
    var buffer = [UInt8](repeating: 0, count: 1 << 16)
    let n = recv(kernelEnd, &buffer, buffer.count, Int32(MSG_DONTWAIT))
    guard n >= FuseOutHeader.wireSize else { return nil }
    let header = FuseOutHeader(wire: FuseWireBytes(Array(buffer[0..<FuseOutHeader.wireSize])))
    XCTAssertEqual(Int(header.len), n, "len is the whole reply", file: file, line: line)
    return (header, Array(buffer[FuseOutHeader.wireSize..<n]))
  }
}
