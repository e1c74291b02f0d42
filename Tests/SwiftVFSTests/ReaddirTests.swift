import SwiftVFS
import XCTest

@testable import SwiftVFSCore
@testable import SwiftVFSDevices
@testable import SwiftVFSFileSystems
@testable import SwiftVFSFuse

/// readdir cookies: a listing resumed from a cookie after the directory
/// changed shows every entry that was there the whole time exactly once.
final class ReaddirTests: MemfsTestCase {
  /// Lists up to `max` entries from `cookie`; returns them and the cookie to go on from.
  private func page(_ file: File, from cookie: Int64, max: Int) throws -> ([DirEntry], Int64) {
    var out: [DirEntry] = []
    var next = cookie
    try vfs.readdir(file, from: cookie) { e in
      guard out.count < max else { return false }
      out.append(e)
      next = e.offset
      return true
    }
    return (out, next)
  }

  func testDotEntriesThenEntriesInCreationOrderWithTypes() throws {
    let d = try h.dir(root, "d")
    let f = try h.file(d, "f")
    let s = try h.symlink(d, "s", "f")
    let sub = try h.dir(d, "sub")
    let (fh, file) = try vfs.open(d, flags: 0, cred: .root)
    defer { vfs.release(fh) }
    let (all, _) = try page(file, from: 0, max: 100)
    XCTAssertEqual(all.map(\.name.description), [".", "..", "f", "s", "sub"])
    XCTAssertEqual(all.map(\.ino), [d.ino, root.ino, f.ino, s.ino, sub.ino])
    XCTAssertEqual(all.map(\.type), [.directory, .directory, .regular, .symlink, .directory])
    XCTAssertTrue(all[2].inode === f)
    XCTAssertNil(all[0].inode)
    let offsets = all.map(\.offset)
    XCTAssertEqual(offsets, offsets.sorted(), "cookies increase")
    XCTAssertEqual(Set(offsets).count, offsets.count, "cookies are unique")
    // Resuming from each cookie gives exactly the rest.
    for (i, e) in all.enumerated() {
      let (rest, _) = try page(file, from: e.offset, max: 100)
      XCTAssertEqual(rest.map(\.name), all[(i + 1)...].map(\.name), "after \(e.name)")
    }
    XCTAssertEqual(vtErrno { _ = try self.page(file, from: -1, max: 1) }, .EINVAL)
    let (pastEnd, _) = try page(file, from: 1 << 40, max: 10)
    XCTAssertEqual(pastEnd.count, 0)
    // The root's ".." is itself.
    let (rfh, rfile) = try vfs.open(root, flags: 0, cred: .root)
    let (rootEntries, _) = try page(rfile, from: 0, max: 2)
    vfs.release(rfh)
    XCTAssertEqual(rootEntries.map(\.ino), [root.ino, root.ino])
  }

  func testEntriesPresentThroughoutAppearExactlyOnceWhileOthersComeAndGo() throws {
    let d = try h.dir(root, "d")
    for n in 0..<300 { try h.file(d, "f\(n)") }
    let (fh, file) = try vfs.open(d, flags: 0, cred: .root)
    defer { vfs.release(fh) }
    var seen: [String: Int] = [:]
    var cookie: Int64 = 0
    var round = 0
    var removed: Set<String> = []
    var created = 0
    while true {
      let (entries, next) = try page(file, from: cookie, max: 17)
      if entries.isEmpty { break }
      for e in entries where !e.name.isDotOrDotDot { seen[e.name.description, default: 0] += 1 }
      cookie = next
      // Between pages: delete some names already listed and some not yet
      // listed (far more than the compaction threshold), add new ones, and
      // rename some.
      for k in 0..<6 {
        let victim = "f\((round * 37 + k * 53) % 300)"
        if !removed.contains(victim),
          vtErrno({ try self.vfs.unlink(d, try FileName(victim)) }) == nil
        {
          removed.insert(victim)
        }
      }
      if round < 10 {
        try h.file(d, "new\(round)")
        created += 1
        if round % 3 == 0 {
          XCTAssertNil(
            vtErrno {
              try self.vfs.rename(d, try FileName("new\(round)"), d, try FileName("moved\(round)"))
            })
        }
      }
      round += 1
      XCTAssertLessThan(round, 200, "the listing must end")
      if round >= 200 { break }
    }
    XCTAssertGreaterThan(removed.count, 64, "enough deletes to tempt compaction")
    for n in 0..<300 where !removed.contains("f\(n)") {
      XCTAssertEqual(seen["f\(n)"], 1, "f\(n) was there all along")
    }
    XCTAssertEqual(seen.values.filter { $0 > 1 }.count, 0, "nothing appears twice")
    // After the listing is closed, the directory still lists right.
    vfs.release(fh)
    let names = try h.names(d)
    XCTAssertEqual(Set(names).count, names.count)
    XCTAssertEqual(names.count, 300 - removed.count + created)
  }

  func testACompactedDirectoryListsInOrder() throws {
    let d = try h.dir(root, "d")
    for n in 0..<200 { try h.file(d, "f\(n)") }
    // Delete most entries with the directory closed, so it compacts.
    for n in 0..<190 { try vfs.unlink(d, try FileName("f\(n)")) }
    let names = try h.names(d)
    XCTAssertEqual(names, (190..<200).map { "f\($0)" })
    for n in 0..<5 { try h.file(d, "g\(n)") }
    XCTAssertEqual(try h.names(d), (190..<200).map { "f\($0)" } + (0..<5).map { "g\($0)" })
    XCTAssertEqual(try h.stat(d).size, 40 + 15 * 20)
  }

  /// A listing of names (`inodes: false`, as FUSE READDIR asks) gives the
  /// entries, numbers, types and cookies of a full one, from every cookie;
  /// only non-directories lose their inode, a covered directory still shows
  /// the mounted root, and a name renamed over shows its new inode's number
  /// and type.
  func testNameListingMatchesFullListing() throws {
    let f = try h.file(root, "f")
    _ = try h.symlink(root, "s", "f")
    let sub = try h.dir(root, "sub")
    let mounted = try h.mountSecondMemfs(at: "/m")
    let g = try h.file(root, "g")
    try vfs.rename(root, "g", root, "s")
    let (fh, file) = try vfs.open(root, flags: 0, cred: .root)
    defer { vfs.release(fh) }
    func list(from cookie: Int64, inodes: Bool) throws -> [DirEntry] {
      var out: [DirEntry] = []
      try vfs.readdir(file, from: cookie, inodes: inodes) {
        out.append($0)
        return true
      }
      return out
    }
    let names = try list(from: 0, inodes: false)
    let bySlot = Dictionary(
      names.map { ($0.name.description, $0) }, uniquingKeysWith: { first, _ in first })
    XCTAssertNil(bySlot["f"]?.inode, "a regular file needs no inode")
    XCTAssertEqual(bySlot["f"]?.ino, f.ino)
    XCTAssertEqual(bySlot["f"]?.type, .regular)
    XCTAssertTrue(bySlot["sub"]?.inode === sub)
    XCTAssertTrue(bySlot["m"]?.inode === mounted.root, "the mount is crossed")
    XCTAssertEqual(bySlot["m"]?.ino, mounted.root.ino)
    XCTAssertEqual(bySlot["s"]?.ino, g.ino, "renamed over: the new inode's number")
    XCTAssertEqual(bySlot["s"]?.type, .regular, "and type")
    for start in [Int64(0)] + names.map(\.offset) {
      let n = try list(from: start, inodes: false)
      let a = try list(from: start, inodes: true)
      XCTAssertEqual(n.map(\.name), a.map(\.name), "from \(start)")
      XCTAssertEqual(n.map(\.ino), a.map(\.ino), "from \(start)")
      XCTAssertEqual(n.map(\.type), a.map(\.type), "from \(start)")
      XCTAssertEqual(n.map(\.offset), a.map(\.offset), "from \(start)")
    }
  }

  func testReaddirOfAFileIsENOTDIR() throws {
    let f = try h.file(root, "f")
    let (fh, file) = try vfs.open(f, flags: 0, cred: .root)
    defer { vfs.release(fh) }
    XCTAssertEqual(vtErrno { try self.vfs.readdir(file, from: 0) { _ in true } }, .ENOTDIR)
  }

  func testManyEntriesListInPages() throws {
    let d = try h.dir(root, "d")
    for n in 0..<2000 { try h.file(d, "f\(n)") }
    let (fh, file) = try vfs.open(d, flags: 0, cred: .root)
    defer { vfs.release(fh) }
    var cookie: Int64 = 0
    var names: [String] = []
    var pages = 0
    while true {
      let (entries, next) = try page(file, from: cookie, max: 100)
      if entries.isEmpty { break }
      names += entries.map(\.name.description)
      cookie = next
      pages += 1
    }
    XCTAssertEqual(pages, 21)
    XCTAssertEqual(names, [".", ".."] + (0..<2000).map { "f\($0)" })
  }
}
