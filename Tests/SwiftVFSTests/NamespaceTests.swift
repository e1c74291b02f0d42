import SwiftVFS
import XCTest

@testable import SwiftVFSCore
@testable import SwiftVFSDevices
@testable import SwiftVFSFileSystems
@testable import SwiftVFSFuse

/// Names and entries through the `VFS` facade, with the errno the kernel and
/// tmpfs give (checked side by side on /dev/shm where a case was unclear).
final class NamespaceTests: MemfsTestCase {
  // MARK: create

  func testCreateMakesAnEmptyRegularFileOwnedByTheCaller() throws {
    let cred = Cred(uid: 1234, gid: 99)
    let (f, fh, file) = try vfs.create(
      root, "f", mode: 0o640, flags: Int32(O_WRONLY) | OpenFlags.create, cred: cred)
    defer {
      vfs.release(fh)
      vfs.forget(f.ino, count: 1)
    }
    let st = try h.stat(f)
    XCTAssertEqual(st.mode, FileType.regular.rawValue | 0o640)
    XCTAssertEqual(st.nlink, 1)
    XCTAssertEqual(st.size, 0)
    XCTAssertEqual(st.blocks, 0)
    XCTAssertEqual(st.uid, 1234)
    XCTAssertEqual(st.gid, 99)
    XCTAssertEqual(st.blockSize, 4096)
    XCTAssertTrue(file.isWritable)
    XCTAssertFalse(file.isReadable)
    XCTAssertEqual(try h.names(root), ["f"])
  }

  func testCreateExclusiveOnAnExistingNameIsEEXIST() throws {
    let f = try h.file(root, "f", [1, 2, 3])
    XCTAssertEqual(
      vtErrno {
        _ = try self.vfs.create(
          self.root, "f", mode: 0o644,
          flags: Int32(O_RDWR) | OpenFlags.create | OpenFlags.exclusive, cred: .root)
      }, .EEXIST)
    // Without O_EXCL the existing file opens, data intact.
    let (g, fh, _) = try vfs.create(
      root, "f", mode: 0o600, flags: Int32(O_RDWR) | OpenFlags.create, cred: .root)
    vfs.release(fh)
    vfs.forget(g.ino, count: 1)
    XCTAssertTrue(g === f)
    XCTAssertEqual(try h.readAll(f), [1, 2, 3])
    XCTAssertEqual(try h.stat(f).mode & 0o7777, 0o644, "mode of an existing file is kept")
    // With O_TRUNC the existing file is emptied.
    let (g2, fh2, _) = try vfs.create(
      root, "f", mode: 0o600, flags: Int32(O_RDWR) | OpenFlags.create | OpenFlags.truncate,
      cred: .root)
    vfs.release(fh2)
    vfs.forget(g2.ino, count: 1)
    XCTAssertEqual(try h.stat(f).size, 0)
  }

  func testCreateErrors() throws {
    let f = try h.file(root, "f")
    try h.dir(root, "d")
    try h.symlink(root, "s", "f")
    let rw = Int32(O_RDWR) | OpenFlags.create
    XCTAssertEqual(
      vtErrno { _ = try self.vfs.create(f, "x", mode: 0o644, flags: rw, cred: .root) }, .ENOTDIR)
    XCTAssertEqual(
      vtErrno { _ = try self.vfs.create(self.root, ".", mode: 0o644, flags: rw, cred: .root) },
      .EISDIR, "O_CREAT on an existing directory opens it for writing: EISDIR")
    XCTAssertEqual(
      vtErrno { _ = try self.vfs.create(self.root, "d", mode: 0o644, flags: rw, cred: .root) },
      .EISDIR)
    XCTAssertEqual(
      vtErrno { _ = try self.vfs.create(self.root, "s", mode: 0o644, flags: rw, cred: .root) },
      .ELOOP)
    XCTAssertEqual(vfs.openFileCount, 0)
    XCTAssertEqual(vfs.icache.stats.openFiles, 0, "failed opens leave nothing open")
  }

  // MARK: mkdir, mknod, symlink

  func testMkdirCountsLinksAndSizes() throws {
    let rootLinks = try h.stat(root).nlink
    let d = try h.dir(root, "d", mode: 0o751)
    let st = try h.stat(d)
    XCTAssertEqual(st.mode, FileType.directory.rawValue | 0o751)
    XCTAssertEqual(st.nlink, 2)
    XCTAssertEqual(st.size, 40, "tmpfs: BOGO_DIRENT_SIZE for . and ..")
    XCTAssertEqual(try h.stat(root).nlink, rootLinks + 1)
    try h.dir(d, "e")
    try h.file(d, "f")
    XCTAssertEqual(try h.stat(d).nlink, 3, "a file does not add a link to its directory")
    XCTAssertEqual(try h.stat(d).size, 80)
    XCTAssertEqual(vtErrno { try self.h.dir(self.root, "d") }, .EEXIST)
    XCTAssertEqual(vtErrno { try self.h.dir(self.root, ".") }, .EEXIST)
    XCTAssertEqual(vtErrno { try self.h.dir(self.root, "..") }, .EEXIST)
    XCTAssertEqual(vtErrno { try self.h.dir(try self.h.walk("d/f"), "x") }, .ENOTDIR)
    XCTAssertEqual(try h.stat(root).nlink, rootLinks + 1)
  }

  func testMkdirKeepsOnlyPermissionBits() throws {
    let d = try vfs.mkdir(root, "d", mode: FileType.regular.rawValue | 0o1755, cred: .root)
    vfs.forget(d.ino, count: 1)
    XCTAssertEqual(try h.stat(d).mode, FileType.directory.rawValue | 0o1755)
  }

  func testMknodMakesFifosSocketsAndDeviceNodes() throws {
    let rdev = try DevT(major: 8, minor: 1)
    let kinds: [(String, FileType)] = [
      ("p", .fifo), ("s", .socket), ("c", .characterDevice), ("b", .blockDevice),
      ("r", .regular),
    ]
    for (name, type) in kinds {
      let node = try vfs.mknod(
        root, try FileName(name), mode: type.rawValue | 0o640, rdev: rdev, cred: vtUser)
      vfs.forget(node.ino, count: 1)
      let st = try h.stat(node)
      XCTAssertEqual(st.mode, type.rawValue | 0o640, name)
      XCTAssertEqual(st.uid, vtUser.uid)
      XCTAssertEqual(st.nlink, 1)
      if type == .characterDevice || type == .blockDevice {
        XCTAssertEqual(st.rdev, rdev, name)
      }
    }
    XCTAssertEqual(
      vtErrno {
        _ = try self.vfs.mknod(
          self.root, "d", mode: FileType.directory.rawValue | 0o755, rdev: .zero, cred: .root)
      }, .EINVAL)
    XCTAssertEqual(
      vtErrno {
        _ = try self.vfs.mknod(
          self.root, "l", mode: FileType.symlink.rawValue | 0o777, rdev: .zero, cred: .root)
      }, .EINVAL)
    XCTAssertEqual(
      vtErrno {
        _ = try self.vfs.mknod(
          self.root, "p", mode: FileType.fifo.rawValue | 0o644, rdev: .zero, cred: .root)
      }, .EEXIST)
    XCTAssertEqual(try h.names(root).sorted(), ["b", "c", "p", "r", "s"])
  }

  func testSymlinkStoresItsTarget() throws {
    let s = try h.symlink(root, "s", "some/where")
    let st = try h.stat(s)
    XCTAssertEqual(st.mode, FileType.symlink.rawValue | 0o777)
    XCTAssertEqual(st.size, 10)
    XCTAssertEqual(st.nlink, 1)
    XCTAssertEqual(try vfs.readlink(s), Array("some/where".utf8))
    XCTAssertEqual(vtErrno { _ = try self.vfs.readlink(self.root) }, .EINVAL)
    XCTAssertEqual(vtErrno { try self.h.symlink(self.root, "e", "") }, .ENOENT)
    XCTAssertEqual(vtErrno { try self.h.symlink(self.root, "s", "x") }, .EEXIST)
    let long = String(repeating: "a", count: 4095)
    XCTAssertNil(vtErrno { try self.h.symlink(self.root, "long", long) })
    XCTAssertEqual(try vfs.readlink(try h.walk("long")).count, 4095)
    XCTAssertEqual(vtErrno { try self.h.symlink(self.root, "toolong", long + "a") }, .ENAMETOOLONG)
    XCTAssertEqual(vtErrno { _ = try self.vfs.open(s, flags: 0, cred: .root) }, .ELOOP)
  }

  // MARK: names

  func testNamesOf255BytesWorkAnd256AreENAMETOOLONG() throws {
    let ok = [UInt8](repeating: 0x61, count: 255)
    let name = try FileName.validated(ok)
    let f = try h.file(root, name.description)
    XCTAssertTrue(try vfs.resolveUnlocked(root, name) === f)
    XCTAssertEqual(try h.names(root), [name.description])
    XCTAssertEqual(
      vtErrno { _ = try FileName.validated([UInt8](repeating: 0x61, count: 256)) },
      .ENAMETOOLONG)
    XCTAssertEqual(vtErrno { _ = try FileName.validated([]) }, .EINVAL)
    XCTAssertEqual(vtErrno { _ = try FileName.validated(Array("a/b".utf8)) }, .EINVAL)
    XCTAssertEqual(vtErrno { _ = try FileName.validated([0x61, 0, 0x62]) }, .EINVAL)
    // Non-UTF-8 bytes are a valid name.
    let raw = try FileName.validated([0xff, 0xfe, 0x80])
    let g = try vfs.mknod(
      root, raw, mode: FileType.regular.rawValue | 0o644, rdev: .zero, cred: .root)
    vfs.forget(g.ino, count: 1)
    XCTAssertTrue(try vfs.resolveUnlocked(root, raw) === g)
    XCTAssertEqual(vfs.statfs(root).nameMax, 255)
  }

  func testDotAndDotDotLookups() throws {
    let d = try h.dir(root, "d")
    let e = try h.dir(d, "e")
    XCTAssertTrue(try vfs.resolveUnlocked(e, ".") === e)
    XCTAssertTrue(try vfs.resolveUnlocked(e, "..") === d)
    XCTAssertTrue(try vfs.resolveUnlocked(d, "..") === root)
    let f = try h.file(d, "f")
    XCTAssertEqual(vtErrno { _ = try self.vfs.resolveUnlocked(f, "x") }, .ENOTDIR)
    XCTAssertEqual(vtErrno { _ = try self.vfs.lookup(f, ".") }, .ENOTDIR)
    XCTAssertEqual(vtErrno { _ = try self.h.walk("d/nope") }, .ENOENT)
  }

  // MARK: link

  func testLinkAddsANameAndCountsIt() throws {
    let f = try h.file(root, "f", [7])
    let d = try h.dir(root, "d")
    h.age(f)
    h.age(d)
    let g = try vfs.link(f, d, "g")
    vfs.forget(g.ino, count: 1)
    XCTAssertTrue(g === f)
    let st = try h.stat(f)
    XCTAssertEqual(st.nlink, 2)
    XCTAssertGreaterThan(st.ctime.sec, 1000, "link changes the inode's ctime")
    XCTAssertEqual(st.mtime.sec, 1000, "but not its mtime")
    XCTAssertGreaterThan(try h.stat(d).mtime.sec, 1000)
    XCTAssertGreaterThan(try h.stat(d).ctime.sec, 1000)
    XCTAssertTrue(try h.walk("d/g") === f)
    XCTAssertEqual(try h.readAll(try h.walk("d/g")), [7])
    try h.link(f, root, "h")
    XCTAssertEqual(try h.stat(f).nlink, 3)
  }

  func testLinkErrors() throws {
    let f = try h.file(root, "f")
    let d = try h.dir(root, "d")
    try h.file(root, "taken")
    XCTAssertEqual(vtErrno { try self.h.link(d, self.root, "d2") }, .EPERM)
    XCTAssertEqual(vtErrno { try self.h.link(f, self.root, "taken") }, .EEXIST)
    XCTAssertEqual(vtErrno { try self.h.link(f, self.root, ".") }, .EEXIST)
    XCTAssertEqual(vtErrno { try self.h.link(f, f, "x") }, .ENOTDIR)
    // An open file whose last name is gone cannot get a new one.
    let (fh, _) = try vfs.open(f, flags: Int32(O_RDONLY), cred: .root)
    try vfs.unlink(root, "f")
    XCTAssertEqual(vtErrno { try self.h.link(f, d, "back") }, .ENOENT)
    vfs.release(fh)
    XCTAssertEqual(try h.names(d), [])
  }

  // MARK: unlink and rmdir

  func testUnlinkRemovesANameAndTouchesTheParent() throws {
    let d = try h.dir(root, "d")
    let f = try h.file(d, "f")
    try h.link(f, d, "g")
    h.age(d)
    h.age(f)
    try vfs.unlink(d, "f")
    XCTAssertEqual(try h.stat(f).nlink, 1)
    XCTAssertGreaterThan(try h.stat(f).ctime.sec, 1000, "unlink changes the inode's ctime")
    XCTAssertGreaterThan(try h.stat(d).mtime.sec, 1000)
    XCTAssertGreaterThan(try h.stat(d).ctime.sec, 1000)
    XCTAssertEqual(try h.stat(d).size, 60)
    XCTAssertEqual(try h.names(d), ["g"])
    XCTAssertEqual(vtErrno { _ = try self.h.walk("d/f") }, .ENOENT)
  }

  func testUnlinkErrors() throws {
    let d = try h.dir(root, "d")
    let f = try h.file(root, "f")
    XCTAssertEqual(vtErrno { try self.vfs.unlink(self.root, "nope") }, .ENOENT)
    XCTAssertEqual(vtErrno { try self.vfs.unlink(self.root, "d") }, .EISDIR)
    XCTAssertEqual(vtErrno { try self.vfs.unlink(d, ".") }, .EISDIR)
    XCTAssertEqual(vtErrno { try self.vfs.unlink(d, "..") }, .EISDIR)
    XCTAssertEqual(vtErrno { try self.vfs.unlink(f, "x") }, .ENOTDIR)
    XCTAssertEqual(try h.names(root).sorted(), ["d", "f"])
  }

  func testRmdirRemovesAnEmptyDirectoryOnly() throws {
    let links = try h.stat(root).nlink
    let d = try h.dir(root, "d")
    try h.file(d, "f")
    h.age(root)
    XCTAssertEqual(vtErrno { try self.vfs.rmdir(self.root, "d") }, .ENOTEMPTY)
    XCTAssertEqual(try h.stat(root).mtime.sec, 1000, "a failed rmdir changes nothing")
    XCTAssertEqual(vtErrno { try self.vfs.rmdir(self.root, "nope") }, .ENOENT)
    XCTAssertEqual(vtErrno { try self.vfs.rmdir(d, "f") }, .ENOTDIR)
    XCTAssertEqual(vtErrno { try self.vfs.rmdir(d, ".") }, .EINVAL)
    XCTAssertEqual(vtErrno { try self.vfs.rmdir(d, "..") }, .ENOTEMPTY)
    XCTAssertEqual(vtErrno { try self.vfs.rmdir(try self.h.walk("d/f"), "x") }, .ENOTDIR)
    try vfs.unlink(d, "f")
    try vfs.rmdir(root, "d")
    XCTAssertEqual(try h.stat(root).nlink, links)
    XCTAssertGreaterThan(try h.stat(root).mtime.sec, 1000)
    XCTAssertEqual(try h.stat(d).nlink, 0)
    XCTAssertEqual(try h.names(root), [])
  }

  // MARK: rename

  func testRenameMovesAFileAndTouchesBothParents() throws {
    let a = try h.dir(root, "a")
    let b = try h.dir(root, "b")
    let f = try h.file(a, "f", [1])
    for i in [a, b, f] { h.age(i) }
    try vfs.rename(a, "f", b, "g")
    XCTAssertTrue(try h.walk("b/g") === f)
    XCTAssertEqual(vtErrno { _ = try self.h.walk("a/f") }, .ENOENT)
    XCTAssertEqual(try h.stat(f).nlink, 1)
    XCTAssertGreaterThan(try h.stat(f).ctime.sec, 1000, "rename changes the inode's ctime")
    XCTAssertEqual(try h.stat(f).mtime.sec, 1000)
    for dir in [a, b] {
      XCTAssertGreaterThan(try h.stat(dir).mtime.sec, 1000)
      XCTAssertGreaterThan(try h.stat(dir).ctime.sec, 1000)
    }
    XCTAssertEqual(try h.stat(a).size, 40)
    XCTAssertEqual(try h.stat(b).size, 60)
  }

  func testRenameADirectoryMovesItsLinkCount() throws {
    let a = try h.dir(root, "a")
    let b = try h.dir(root, "b")
    let d = try h.dir(a, "d")
    try h.file(d, "inside", [5])
    try vfs.rename(a, "d", b, "d")
    XCTAssertEqual(try h.stat(a).nlink, 2)
    XCTAssertEqual(try h.stat(b).nlink, 3)
    XCTAssertEqual(try h.stat(d).nlink, 2)
    XCTAssertTrue(try vfs.resolveUnlocked(d, "..") === b)
    XCTAssertEqual(try h.readAll(try h.walk("b/d/inside")), [5])
    // Its "..", as readdir shows it, follows.
    let (fh, file) = try vfs.open(d, flags: 0, cred: .root)
    var dotdot: UInt64 = 0
    try vfs.readdir(file, from: 0) { e in
      if e.name == ".." { dotdot = e.ino }
      return true
    }
    vfs.release(fh)
    XCTAssertEqual(dotdot, b.ino)
  }

  func testRenameOverAFileReplacesIt() throws {
    let f = try h.file(root, "f", [1])
    let g = try h.file(root, "g", [2])
    try vfs.rename(root, "f", root, "g")
    XCTAssertTrue(try h.walk("g") === f)
    XCTAssertEqual(try h.readAll(f), [1])
    XCTAssertEqual(try h.stat(g).nlink, 0)
    XCTAssertEqual(try h.names(root), ["g"])
    XCTAssertEqual(try h.stat(root).size, 60)
  }

  func testRenameOverAnEmptyDirectoryReplacesIt() throws {
    let links = try h.stat(root).nlink
    let a = try h.dir(root, "a")
    let b = try h.dir(root, "b")
    try vfs.rename(root, "a", root, "b")
    XCTAssertTrue(try h.walk("b") === a)
    XCTAssertEqual(try h.stat(b).nlink, 0)
    XCTAssertEqual(try h.stat(root).nlink, links + 1)
    XCTAssertEqual(try h.names(root), ["b"])
  }

  func testRenameDirectoryAcrossParentsOverAnEmptyDirectory() throws {
    let p = try h.dir(root, "p")
    let q = try h.dir(root, "q")
    let a = try h.dir(p, "a")
    try h.dir(q, "b")
    try vfs.rename(p, "a", q, "b")
    XCTAssertEqual(try h.stat(p).nlink, 2)
    XCTAssertEqual(try h.stat(q).nlink, 3)
    XCTAssertTrue(try h.walk("q/b") === a)
  }

  func testRenameErrors() throws {
    let d = try h.dir(root, "d")
    let sub = try h.dir(d, "sub")
    try h.file(sub, "x")
    try h.dir(root, "e")
    try h.file(root, "f")
    let full = try h.dir(root, "full")
    try h.file(full, "y")
    XCTAssertEqual(vtErrno { try self.vfs.rename(self.root, "nope", self.root, "z") }, .ENOENT)
    XCTAssertEqual(vtErrno { try self.vfs.rename(self.root, "d", sub, "d2") }, .EINVAL)
    XCTAssertEqual(vtErrno { try self.vfs.rename(self.root, "d", d, "d2") }, .EINVAL)
    XCTAssertEqual(vtErrno { try self.vfs.rename(self.root, "e", self.root, "full") }, .ENOTEMPTY)
    XCTAssertEqual(vtErrno { try self.vfs.rename(self.root, "e", self.root, "f") }, .ENOTDIR)
    XCTAssertEqual(vtErrno { try self.vfs.rename(self.root, "f", self.root, "e") }, .EISDIR)
    XCTAssertEqual(vtErrno { try self.vfs.rename(self.root, ".", self.root, "z") }, .EBUSY)
    XCTAssertEqual(vtErrno { try self.vfs.rename(self.root, "f", d, "..") }, .EBUSY)
    XCTAssertEqual(
      vtErrno { try self.vfs.rename(self.root, "f", try self.h.walk("f"), "z") }, .ENOTDIR)
    XCTAssertEqual(
      vtErrno {
        try self.vfs.rename(self.root, "f", self.root, "z", flags: [.whiteout, .exchange])
      },
      .EINVAL)

    XCTAssertEqual(
      vtErrno {
        try self.vfs.rename(self.root, "f", self.root, "e", flags: [.noReplace, .exchange])
      }, .EINVAL)
    // A directory renamed onto its own ancestor: the target is not empty.
    XCTAssertEqual(vtErrno { try self.vfs.rename(d, "sub", self.root, "d") }, .ENOTEMPTY)
    // Nothing moved.
    XCTAssertEqual(try h.names(root).sorted(), ["d", "e", "f", "full"])
    XCTAssertEqual(try h.names(sub), ["x"])
  }

  func testRenameIntoARemovedDirectoryIsENOENT() throws {
    try h.file(root, "f")
    let gone = try vfs.mkdir(root, "gone", mode: 0o755, cred: .root)
    try vfs.rmdir(root, "gone")
    XCTAssertEqual(vtErrno { try self.vfs.rename(self.root, "f", gone, "f") }, .ENOENT)
    vfs.forget(gone.ino, count: 1)
    XCTAssertNoThrow(try h.walk("f"))
  }

  func testRenameNoReplace() throws {
    let f = try h.file(root, "f", [1])
    try h.file(root, "g", [2])
    XCTAssertEqual(
      vtErrno { try self.vfs.rename(self.root, "f", self.root, "g", flags: .noReplace) }, .EEXIST)
    XCTAssertEqual(try h.readAll(try h.walk("g")), [2])
    try vfs.rename(root, "f", root, "h", flags: .noReplace)
    XCTAssertTrue(try h.walk("h") === f)
    XCTAssertEqual(try h.names(root).sorted(), ["g", "h"])
  }

  func testRenameExchangeSwapsTwoNames() throws {
    let a = try h.dir(root, "a")
    let b = try h.dir(root, "b")
    let f = try h.file(a, "f", [1])
    let d = try h.dir(b, "d")
    try h.file(d, "inner")
    XCTAssertEqual(
      vtErrno { try self.vfs.rename(a, "f", b, "missing", flags: .exchange) }, .ENOENT)
    try vfs.rename(a, "f", b, "d", flags: .exchange)
    // Both names stay; the inodes behind them swap.
    XCTAssertTrue(try h.walk("a/f") === d)
    XCTAssertTrue(try h.walk("b/d") === f)
    XCTAssertNoThrow(try h.walk("a/f/inner"))
    XCTAssertEqual(try h.stat(a).nlink, 3, "a gained the directory")
    XCTAssertEqual(try h.stat(b).nlink, 2, "b lost it")
    XCTAssertEqual(try h.stat(f).nlink, 1)
    XCTAssertTrue(try vfs.resolveUnlocked(d, "..") === a)
    // Two directories swap; a non-empty directory can take part.
    let x = try h.dir(root, "x")
    try vfs.rename(root, "a", root, "x", flags: .exchange)
    XCTAssertTrue(try h.walk("x") === a)
    XCTAssertTrue(try h.walk("a") === x)
    // Exchanging a directory with its own ancestor is EINVAL either way round.
    XCTAssertEqual(
      vtErrno { try self.vfs.rename(a, "f", self.root, "x", flags: .exchange) }, .EINVAL)
    XCTAssertEqual(
      vtErrno { try self.vfs.rename(self.root, "x", a, "f", flags: .exchange) }, .EINVAL)
  }

  func testRenameOfTheSameInodeIsANoOp() throws {
    let f = try h.file(root, "f")
    try h.link(f, root, "g")
    h.age(root)
    try vfs.rename(root, "f", root, "g")
    XCTAssertEqual(try h.names(root).sorted(), ["f", "g"], "POSIX: both names stay")
    XCTAssertEqual(try h.stat(f).nlink, 2)
    XCTAssertEqual(try h.stat(root).mtime.sec, 1000)
    try vfs.rename(root, "f", root, "f")
    try vfs.rename(root, "f", root, "g", flags: .exchange)
    XCTAssertEqual(try h.names(root).sorted(), ["f", "g"])
    XCTAssertEqual(
      vtErrno { try self.vfs.rename(self.root, "f", self.root, "g", flags: .noReplace) }, .EEXIST)
  }

  func testRenameWithinADirectoryKeepsItsLinks() throws {
    let d = try h.dir(root, "d")
    try h.dir(d, "x")
    try vfs.rename(d, "x", d, "y")
    XCTAssertEqual(try h.stat(d).nlink, 3)
    XCTAssertEqual(try h.names(d), ["y"])
    XCTAssertEqual(try h.stat(d).size, 60)
  }

  // MARK: superblocks

  func testCrossSuperblockOperationsAreEXDEVAndMountPointsAreBusy() throws {
    let other = try h.mountSecondMemfs(at: "/x")
    let x = try h.walk("x")
    XCTAssertTrue(x === other.root, "the path walk crosses into the mounted root")
    let f = try h.file(root, "f")
    let g = try h.file(x, "g")
    XCTAssertTrue(g.sb === other)
    XCTAssertEqual(vtErrno { try self.vfs.rename(self.root, "f", x, "f") }, .EXDEV)
    XCTAssertEqual(vtErrno { try self.vfs.rename(x, "g", self.root, "g") }, .EXDEV)
    XCTAssertEqual(vtErrno { try self.h.link(f, x, "f") }, .EXDEV)
    XCTAssertEqual(vtErrno { try self.h.link(g, self.root, "g") }, .EXDEV)
    XCTAssertEqual(vtErrno { try self.vfs.rmdir(self.root, "x") }, .EBUSY)
    XCTAssertEqual(vtErrno { try self.vfs.rename(self.root, "x", self.root, "y") }, .EBUSY)
    try h.dir(root, "empty")
    XCTAssertEqual(vtErrno { try self.vfs.rename(self.root, "empty", self.root, "x") }, .EBUSY)
    XCTAssertEqual(
      vtErrno { try self.vfs.rename(self.root, "f", self.root, "x", flags: .exchange) }, .EBUSY)
    XCTAssertEqual(
      vtErrno { try self.vfs.mount("memfs", at: "/", options: MountOptions()) }, .EBUSY)
    XCTAssertEqual(
      vtErrno { try self.vfs.mount("memfs", at: "/f", options: MountOptions()) }, .ENOTDIR)
    XCTAssertEqual(
      vtErrno { try self.vfs.mount("memfs", at: "/nope", options: MountOptions()) }, .ENOENT)
    XCTAssertEqual(
      vtErrno { try self.vfs.mount("nofs", at: "/empty", options: MountOptions()) }, .ENODEV)
    // readdir of / shows the mounted root under "x".
    let (fh, file) = try vfs.open(root, flags: 0, cred: .root)
    var shown: UInt64 = 0
    try vfs.readdir(file, from: 0) { e in
      if e.name == "x" { shown = e.ino }
      return true
    }
    vfs.release(fh)
    XCTAssertEqual(shown, other.root.ino)
    XCTAssertNotEqual(other.root.ino, root.ino)
    XCTAssertTrue(try vfs.resolveUnlocked(other.root, "..") === root)
    // Each superblock counts its own.
    XCTAssertEqual(other.usedInodes, 2)
  }

  // MARK: attributes

  func testChmodChownAndUtimesChangeCtime() throws {
    let f = try h.file(root, "f")
    h.age(f)
    var st = try vfs.setattr(f, SetAttr(mode: 0o4711), cred: .root)
    XCTAssertEqual(st.mode, FileType.regular.rawValue | 0o4711)
    XCTAssertGreaterThan(st.ctime.sec, 1000)
    XCTAssertEqual(st.mtime.sec, 1000, "chmod leaves mtime")
    h.age(f)
    st = try vfs.setattr(f, SetAttr(uid: 5, gid: 6), cred: .root)
    XCTAssertEqual([st.uid, st.gid], [5, 6])
    XCTAssertGreaterThan(st.ctime.sec, 1000)
    let t = Timestamp(sec: 12345, nsec: 678)
    st = try vfs.setattr(f, SetAttr(atime: .to(t), mtime: .to(t)), cred: .root)
    XCTAssertEqual(st.atime, t)
    XCTAssertEqual(st.mtime, t)
    XCTAssertGreaterThan(st.ctime.sec, 12345)
    h.age(f)
    st = try vfs.setattr(f, SetAttr(), cred: .root)
    XCTAssertEqual(st.ctime.sec, 1000, "an empty setattr changes nothing")
  }

  func testSetattrSizeErrors() throws {
    let d = try h.dir(root, "d")
    let s = try h.symlink(root, "s", "d")
    let f = try h.file(root, "f")
    XCTAssertEqual(vtErrno { _ = try self.vfs.setattr(d, SetAttr(size: 0), cred: .root) }, .EISDIR)
    XCTAssertEqual(vtErrno { _ = try self.vfs.setattr(s, SetAttr(size: 0), cred: .root) }, .EINVAL)
    XCTAssertEqual(vtErrno { _ = try self.vfs.setattr(f, SetAttr(size: -1), cred: .root) }, .EINVAL)
  }

  func testSetgidDirectoryPassesItsGroupAndBitDown() throws {
    let d = try h.dir(root, "d", mode: 0o2775)
    _ = try vfs.setattr(d, SetAttr(gid: 500), cred: .root)
    _ = try vfs.setattr(d, SetAttr(mode: 0o2775), cred: .root)
    let f = try h.file(d, "f", cred: vtUser)
    let sub = try h.dir(d, "sub", mode: 0o755, cred: vtUser)
    let s = try vfs.symlink(d, "s", target: Array("f".utf8), cred: vtUser)
    vfs.forget(s.ino, count: 1)
    let p = try vfs.mknod(d, "p", mode: FileType.fifo.rawValue | 0o644, rdev: .zero, cred: vtUser)
    vfs.forget(p.ino, count: 1)
    for node in [f, sub, s, p] {
      XCTAssertEqual(try h.stat(node).gid, 500, "group from the setgid directory")
      XCTAssertEqual(try h.stat(node).uid, 1000, "owner is the caller")
    }
    XCTAssertEqual(
      try h.stat(sub).mode & ModeBits.setgid, ModeBits.setgid, "subdirs inherit S_ISGID")
    XCTAssertEqual(try h.stat(f).mode & ModeBits.setgid, 0, "files do not")
    let plain = try h.dir(root, "plain")
    let g = try h.file(plain, "g", cred: vtUser)
    XCTAssertEqual(try h.stat(g).gid, 1000, "no setgid: the caller's group")
  }

  func testParentTimesMoveOnEveryEntryChange() throws {
    let d = try h.dir(root, "d")
    func changes(_ what: String, _ body: () throws -> Void) rethrows {
      h.age(d)
      try body()
      let st = try! h.stat(d)
      XCTAssertGreaterThan(st.mtime.sec, 1000, what)
      XCTAssertGreaterThan(st.ctime.sec, 1000, what)
    }
    try changes("create") { try h.file(d, "f") }
    try changes("mkdir") { try h.dir(d, "sub") }
    try changes("mknod") {
      let n = try vfs.mknod(d, "n", mode: FileType.fifo.rawValue | 0o600, rdev: .zero, cred: .root)
      vfs.forget(n.ino, count: 1)
    }
    try changes("symlink") { try h.symlink(d, "s", "f") }
    try changes("link") { try h.link(try h.walk("d/f"), d, "f2") }
    try changes("unlink") { try vfs.unlink(d, "f2") }
    try changes("rename") { try vfs.rename(d, "f", d, "f3") }
    try changes("rmdir") { try vfs.rmdir(d, "sub") }
  }

  func testXattrChangeMovesCtime() throws {
    let f = try h.file(root, "f")
    h.age(f)
    try vfs.setxattr(f, "user.a", [1], flags: [], cred: .root)
    XCTAssertGreaterThan(try h.stat(f).ctime.sec, 1000)
    XCTAssertEqual(try h.stat(f).mtime.sec, 1000)
    h.age(f)
    try vfs.removexattr(f, "user.a", cred: .root)
    XCTAssertGreaterThan(try h.stat(f).ctime.sec, 1000)
  }

  // MARK: the dcache follows every change

  func testDcacheAgreesWithDirectoriesAfterEachChange() throws {
    let d = try h.dir(root, "d")
    assertConsistent(vfs)
    let f = try h.file(d, "f")
    assertConsistent(vfs)
    try h.link(f, root, "g")
    assertConsistent(vfs)
    try vfs.rename(d, "f", root, "g")  // same inode: nothing
    assertConsistent(vfs)
    try vfs.rename(root, "g", d, "h")
    assertConsistent(vfs)
    try h.dir(root, "e")
    try vfs.rename(root, "d", root, "e")
    assertConsistent(vfs)
    try h.dir(root, "k")
    try vfs.rename(try h.walk("e"), "f", root, "k", flags: .exchange)
    assertConsistent(vfs)
    XCTAssertTrue(try h.walk("k") === f)
    XCTAssertTrue(try h.walk("e/f").isDirectory)
    try vfs.unlink(root, "k")
    try vfs.unlink(try h.walk("e"), "h")
    XCTAssertTrue(vfs.icache.vtEvicted(f))
    try vfs.rmdir(try h.walk("e"), "f")
    try vfs.rmdir(root, "e")
    assertConsistent(vfs)
    XCTAssertEqual(try h.names(root), [])
    XCTAssertEqual(vfs.dcache.allEntries().filter { $0.inode != nil }.count, 1, "only the root")
  }
}
