import CFuse
import SwiftVFSCore
import XCTest

@testable import SwiftVFSFuse

#if canImport(Glibc)
  import Glibc
#endif

/// The READDIR record writer (`FuseDirent`) against libfuse's
/// fuse_add_direntry(), which the bridge used before: the same bytes and the
/// same returned size for random names, numbers, cookies, types and buffer
/// room, including a record that does not fit (nothing written).
final class FuseDirentTests: XCTestCase {
  func testRecordsAreByteIdenticalToLibfuse() {
    var rng = SeededGenerator(state: 12)
    let types: [UInt32] = [0o010000, 0o020000, 0o040000, 0o060000, 0o100000, 0o120000, 0o140000]
    let room = 512
    var checked = 0
    var tooSmall = 0
    for round in 0..<5000 {
      // Names of 1...255 bytes without NUL or "/", as FileName allows.
      let length = round < 255 ? round + 1 : 1 + rng.below(255)
      let name = (0..<length).map { _ -> UInt8 in
        let b = UInt8(1 + rng.below(255))
        return b == 0x2F ? 0x2E : b
      }
      let ino = rng.next()
      let offset = Int64(bitPattern: rng.next())
      let mode = types[rng.below(types.count)] | UInt32(rng.below(0o7777))
      // Room from none to more than enough, so short buffers are covered.
      let remaining = rng.chance(20) ? rng.below(FuseDirent.size(nameLength: length) + 1) : room
      var ours = [UInt8](repeating: 0xA5, count: room)
      var theirs = [UInt8](repeating: 0xA5, count: room)
      let n = ours.withUnsafeMutableBytes { out in
        name.withUnsafeBytes { bytes in
          FuseDirent.add(
            to: out.baseAddress!, remaining: remaining, name: bytes, ino: ino, offset: offset,
            mode: mode)
        }
      }
      var st = stat()
      st.st_ino = UInt(ino)
      st.st_mode = mode
      let cName = name.map { CChar(bitPattern: $0) } + [0]
      let m = theirs.withUnsafeMutableBytes { out in
        FuseReplier(nil as fuse_req_t?).addDirentry(
          out.baseAddress!.assumingMemoryBound(to: CChar.self), remaining, cName, &st,
          off_t(offset))
      }
      XCTAssertEqual(n, m, "size, round \(round)")
      XCTAssertEqual(ours, theirs, "bytes, round \(round)")
      if n > remaining { tooSmall += 1 } else { checked += 1 }
    }
    XCTAssertGreaterThan(checked, 4000)
    XCTAssertGreaterThan(tooSmall, 100)
  }
}
