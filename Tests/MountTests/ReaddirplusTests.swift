import Foundation
import XCTest

#if canImport(Glibc)
  import Glibc
#endif

/// READDIRPLUS on a real mount: an entry carries attributes (and takes a
/// lookup) only for an inode the kernel does not hold; a name the kernel
/// knows already comes as a plain name (node id 0), so listing a directory
/// just filled costs no getattr, lookup or FORGET per name.
final class ReaddirplusTests: MountTestCase {
  override class var usesTmpfs: Bool { false }

  static let files = 50

  /// The kernel's lookups on the mounted file system (sb 1 in /proc/vfs/inodes).
  func lookups() throws -> Int {
    let text = try String(contentsOfFile: vfs.path + "/proc/vfs/inodes", encoding: .utf8)
    for line in text.split(separator: "\n") {
      let f = line.split(separator: " ", omittingEmptySubsequences: true)
      if f.count > 4, f[0] == "1", let n = Int(f[4]) { return n }
    }
    throw SupportError("no sb 1 row in /proc/vfs/inodes:\n\(text)")
  }

  /// The calls counted for `opcode` in /proc/vfs/requests.
  func calls(_ opcode: String) throws -> Int {
    let text = try String(contentsOfFile: vfs.path + "/proc/vfs/requests", encoding: .utf8)
    for line in text.split(separator: "\n") {
      let f = line.split(separator: " ", omittingEmptySubsequences: true)
      if f.count > 3, f[1] == opcode, let n = Int(f[3]) { return n }
    }
    throw SupportError("no \(opcode) row in /proc/vfs/requests")
  }

  /// Makes `dir` with `files` empty files, created through the kernel.
  func fill(_ dir: String) throws {
    XCTAssertEqual(mkdir(dir, 0o755), 0, String(cString: strerror(errno)))
    for i in 0..<Self.files {
      let fd = open(dir + "/f\(i)", O_CREAT | O_WRONLY, 0o644)
      guard fd >= 0 else { throw SupportError("create: \(String(cString: strerror(errno)))") }
      close(fd)
    }
  }

  /// Lists `dir` with getdents64 from offset 0 (what `ls -f` does); the names.
  func list(_ dir: String) throws -> Set<String> {
    guard let d = opendir(dir) else { throw SupportError("opendir \(dir)") }
    defer { closedir(d) }
    var names = Set<String>()
    while let e = readdir(d) {
      let name = withUnsafeBytes(of: e.pointee.d_name) { raw in
        String(cString: raw.bindMemory(to: CChar.self).baseAddress!)
      }
      if name != "." && name != ".." { names.insert(name) }
    }
    return names
  }

  func testListingNamesTheKernelHoldsTakesNoLookups() throws {
    let dir = vfs.path + "/held"
    try fill(dir)
    let before = try lookups()
    let plusBefore = try calls("READDIRPLUS")
    let names = try list(dir)
    XCTAssertEqual(names.count, Self.files)
    XCTAssertGreaterThan(
      try calls("READDIRPLUS"), plusBefore, "the first read of a listing is READDIRPLUS")
    // At most equal: a drop_caches elsewhere on the machine may make the
    // kernel forget some meanwhile (a FORGET lowers the count), but no
    // entry the kernel holds may add one.
    XCTAssertLessThanOrEqual(
      try lookups(), before, "no entry took a lookup: the kernel held every inode")
  }

  func testListingNamesTheKernelForgotGivesTheirAttributes() throws {
    let dir = vfs.path + "/forgotten"
    let base = try lookups()
    try fill(dir)
    // The kernel drops its dentries and inodes and FORGETs them (sent
    // after the write returns): wait until none of the files is held.
    let deadline = Date().addingTimeInterval(20)
    var held = Int.max
    repeat {
      let fd = open("/proc/sys/vm/drop_caches", O_WRONLY)
      XCTAssertGreaterThanOrEqual(fd, 0)
      _ = write(fd, "2", 1)
      close(fd)
      held = try lookups()
      if held <= base { break }
      usleep(10_000)
    } while Date() < deadline
    XCTAssertLessThanOrEqual(held, base, "the kernel forgot the directory and its files")
    let before = try lookups()
    let names = try list(dir)
    XCTAssertEqual(names.count, Self.files)
    XCTAssertGreaterThanOrEqual(
      try lookups() - before, Self.files, "each forgotten file came back with a lookup")
    // The entries carried attributes: stat needs no LOOKUP.
    let lookupCalls = try calls("LOOKUP")
    var st = stat()
    for name in names { XCTAssertEqual(stat(dir + "/" + name, &st), 0) }
    XCTAssertEqual(try calls("LOOKUP"), lookupCalls, "stat after the listing sent no LOOKUP")
  }
}
