import Foundation
import XCTest

#if canImport(Glibc)
  import Glibc
#endif

/// name_to_handle_at(2) and open_by_handle_at(2), side by side: a handle
/// still opens its file after the kernel forgot the inode (drop_caches), a
/// directory's handle finds its parent, and a deleted file's handle is ESTALE.
final class FileHandleTests: ConformanceTestCase {
  private static let nameToHandleAt = libcFunction(
    "name_to_handle_at",
    as: (@convention(c) (
      Int32, UnsafePointer<CChar>, UnsafeMutableRawPointer, UnsafeMutablePointer<Int32>, Int32
    ) -> Int32).self)
  private static let openByHandleAt = libcFunction(
    "open_by_handle_at",
    as: (@convention(c) (Int32, UnsafeMutableRawPointer, Int32) -> Int32).self)

  /// A struct file_handle: handle_bytes, handle_type, then the opaque bytes.
  struct Handle: Equatable {
    var type: Int32
    var bytes: [UInt8]
  }

  /// The handle of `path`, or the errno name.
  func handle(_ t: Side, _ path: String) -> Result<Handle, ErrnoError> {
    handle(atPath: t.p(path))
  }

  /// The handle of the absolute `path`, or the errno name.
  func handle(atPath path: String) -> Result<Handle, ErrnoError> {
    let buffer = UnsafeMutableRawPointer.allocate(byteCount: 8 + 128, alignment: 8)
    defer { buffer.deallocate() }
    buffer.storeBytes(of: UInt32(128), as: UInt32.self)
    var mountID: Int32 = 0
    guard Self.nameToHandleAt(AT_FDCWD, path, buffer, &mountID, 0) == 0 else {
      return .failure(ErrnoError(code: errno))
    }
    let count = Int(buffer.load(as: UInt32.self))
    let type = buffer.load(fromByteOffset: 4, as: Int32.self)
    let bytes = Array(UnsafeRawBufferPointer(start: buffer + 8, count: min(count, 128)))
    return .success(Handle(type: type, bytes: bytes))
  }

  /// open_by_handle_at on the mount: the descriptor, or -1 and errno.
  func open(_ t: Side, _ handle: Handle, _ flags: Int32) -> Int32 {
    open(mount: t.mount, handle, flags)
  }

  /// open_by_handle_at on the mount at `mount`: the descriptor, or -1 and errno.
  func open(mount: String, _ handle: Handle, _ flags: Int32) -> Int32 {
    let mountFD = Glibc.open(mount, O_RDONLY | O_DIRECTORY)
    guard mountFD >= 0 else { return -1 }
    defer { Glibc.close(mountFD) }
    let buffer = UnsafeMutableRawPointer.allocate(byteCount: 8 + handle.bytes.count, alignment: 8)
    defer { buffer.deallocate() }
    buffer.storeBytes(of: UInt32(handle.bytes.count), as: UInt32.self)
    buffer.storeBytes(of: handle.type, toByteOffset: 4, as: Int32.self)
    handle.bytes.withUnsafeBytes {
      (buffer + 8).copyMemory(from: $0.baseAddress!, byteCount: $0.count)
    }
    return Self.openByHandleAt(mountFD, buffer, flags)
  }

  /// "OK" and the content read through the handle, or the errno name.
  func readThrough(_ t: Side, _ handle: Handle) -> String {
    let fd = open(t, handle, O_RDONLY)
    if fd < 0 { return errnoName(errno) }
    defer { Glibc.close(fd) }
    switch readAll(fd) {
    case .success(let bytes): return "OK " + String(decoding: bytes, as: UTF8.self)
    case .failure(let e): return errnoName(e.code)
    }
  }

  /// Makes the kernel forget every inode it does not use (so a handle must be
  /// decoded by LOOKUP of "."), and vfsmount's own dcache drop its LRU (best
  /// effort: with -o writeback_cache that control does not open for writing).
  func dropCaches(_ t: Side) {
    let r = t.sh("sync; echo 2 > /proc/sys/vm/drop_caches")
    XCTAssertEqual(r.status, 0, "drop_caches on \(t.name): \(r.stderr)")
    _ = t.sh("[ ! -e \"$M/proc/sys/vm/drop_caches\" ] || echo 2 > \"$M/proc/sys/vm/drop_caches\"")
  }

  func testAFileHandleOpensTheFileAfterTheKernelForgotIt() {
    sideBySide { t in
      t.put("f", "hello")
      guard case .success(let h) = handle(t, "f") else {
        t.check("name_to_handle_at of a file", "failed", "OK")
        return
      }
      t.check("name_to_handle_at of a file", "OK", "OK")
      let ino = t.lstat("f")?.st_ino
      dropCaches(t)
      t.check("open_by_handle_at after drop_caches reads the file", readThrough(t, h), "OK hello")
      t.check(
        "the handle is stable", (try? handle(t, "f").get()) == h, true)
      let fd = open(t, h, O_RDWR)
      t.check("open_by_handle_at for writing", fd >= 0 ? "OK" : errnoName(errno), "OK")
      if fd >= 0 {
        t.check("same inode", t.fstat(fd)?.st_ino == ino, true)
        t.check("write through the handle", pwrite(fd, "HE", 2, 0) == 2, true)
        Glibc.close(fd)
      }
      t.check("the write is seen by name", t.get("f"), "HEllo")
      // Renamed: the handle follows the inode, not the name.
      t.check("rename", t.rename("f", "g"), "OK")
      dropCaches(t)
      t.check("after a rename", readThrough(t, h), "OK HEllo")
    }
  }

  func testADeletedFilesHandleIsESTALE() {
    sideBySide { t in
      t.put("f", "x")
      t.put("kept", "open")
      guard case .success(let h) = handle(t, "f"), case .success(let k) = handle(t, "kept") else {
        t.check("name_to_handle_at", "failed", "OK")
        return
      }
      let openFD = Glibc.open(t.p("kept"), O_RDONLY)
      t.check("unlink", t.unlink("f"), "OK")
      t.check("unlink an open file", t.unlink("kept"), "OK")
      dropCaches(t)
      t.check("open_by_handle_at of a deleted file", readThrough(t, h), "ESTALE")
      t.check("of a deleted file still open", readThrough(t, k), "OK open")
      Glibc.close(openFD)
      dropCaches(t)
      t.check("once closed", readThrough(t, k), "ESTALE")
      // A new file with the old name is another inode: the handle stays stale.
      t.put("f", "new")
      t.check("a new file under the old name", readThrough(t, h), "ESTALE")
    }
  }

  func testADirectoryHandleFindsItsParent() {
    sideBySide { t in
      _ = t.mkdir("d")
      _ = t.mkdir("d/sub")
      t.put("d/sub/g", "in sub")
      guard case .success(let h) = handle(t, "d/sub") else {
        t.check("name_to_handle_at of a directory", "failed", "OK")
        return
      }
      t.check("name_to_handle_at of a directory", "OK", "OK")
      let parentIno = t.lstat("d")?.st_ino
      dropCaches(t)
      let fd = open(t, h, O_RDONLY | O_DIRECTORY)
      t.check("open_by_handle_at of a directory", fd >= 0 ? "OK" : errnoName(errno), "OK")
      guard fd >= 0 else { return }
      // The kernel reconnected the directory to its path: LOOKUP of ".." up
      // to the root, and the name found by reading each parent.
      t.check("its path", t.readlink("/proc/self/fd/\(fd)"), "$T/d/sub")
      let parent = openat(fd, "..", O_RDONLY | O_DIRECTORY)
      t.check("open .. of it", parent >= 0 ? "OK" : errnoName(errno), "OK")
      if parent >= 0 {
        t.check("the parent", t.fstat(parent)?.st_ino == parentIno, true)
        Glibc.close(parent)
      }
      let child = openat(fd, "g", O_RDONLY)
      t.check("a file in it", child >= 0 ? "OK" : errnoName(errno), "OK")
      if child >= 0 { Glibc.close(child) }
      Glibc.close(fd)
      t.check("rm", t.unlink("d/sub/g") + " " + t.rmdir("d/sub"), "OK OK")
      dropCaches(t)
      t.check(
        "a removed directory's handle",
        open(t, h, O_RDONLY | O_DIRECTORY) >= 0 ? "OK" : errnoName(errno),
        "ESTALE")
    }
  }

  func testAMovedDirectorysHandleReconnectsToItsNewPlace() {
    sideBySide { t in
      _ = t.mkdir("a")
      _ = t.mkdir("a/b")
      _ = t.mkdir("a/b/c")
      _ = t.mkdir("x")
      t.put("a/b/c/g", "deep")
      guard case .success(let h) = handle(t, "a/b/c") else {
        t.check("name_to_handle_at of a directory", "failed", "OK")
        return
      }
      // Moved to another parent: its ".." on the disk now names x.
      t.check("rename to another directory", t.rename("a/b/c", "x/c"), "OK")
      t.check("rmdir the old parents", t.rmdir("a/b") + " " + t.rmdir("a"), "OK OK")
      let parentIno = t.lstat("x")?.st_ino
      dropCaches(t)
      let fd = open(t, h, O_RDONLY | O_DIRECTORY)
      t.check("open_by_handle_at of a moved directory", fd >= 0 ? "OK" : errnoName(errno), "OK")
      guard fd >= 0 else { return }
      defer { Glibc.close(fd) }
      t.check("its new path", t.readlink("/proc/self/fd/\(fd)"), "$T/x/c")
      let parent = openat(fd, "..", O_RDONLY | O_DIRECTORY)
      t.check("open .. of it", parent >= 0 ? "OK" : errnoName(errno), "OK")
      if parent >= 0 {
        t.check("the new parent", t.fstat(parent)?.st_ino == parentIno, true)
        Glibc.close(parent)
      }
      let child = openat(fd, "g", O_RDONLY)
      t.check("a file in it", child >= 0 ? "OK" : errnoName(errno), "OK")
      if child >= 0 {
        let content = (try? readAll(child).get()).map { String(decoding: $0, as: UTF8.self) }
        t.check("its content", content ?? "read failed", "deep")
        Glibc.close(child)
      }
    }
  }

  /// What a handle of `path` under `mount` opens to after the kernel forgot
  /// every inode: "OK <path of the descriptor> <content>", or the errno name.
  private func decodeAfterDropCaches(mount: String, _ path: String) -> String {
    guard case .success(let h) = handle(atPath: mount + "/" + path) else {
      return "name_to_handle_at failed"
    }
    let dropped = sh("echo 2 > /proc/sys/vm/drop_caches")
    guard dropped.ok else { return "drop_caches: \(dropped.stderr)" }
    let fd = open(mount: mount, h, O_RDONLY)
    if fd < 0 { return errnoName(errno) }
    defer { Glibc.close(fd) }
    var target = [CChar](repeating: 0, count: 4096)
    let n = readlink("/proc/self/fd/\(fd)", &target, target.count - 1)
    let where_ = n > 0 ? String(cString: Array(target[0..<n]) + [0]) : "?"
    let shown = where_.hasPrefix(mount) ? String(where_.dropFirst(mount.count)) : where_
    // A directory does not read (EISDIR): its path says enough.
    guard let content = try? readAll(fd).get() else { return "OK \(shown)" }
    return "OK \(shown) " + String(decoding: content, as: UTF8.self)
  }

  /// On a read-only ext2 whose own dcache keeps one entry, nothing keeps an
  /// inode the kernel forgot: a handle is decoded from the disk
  /// (ext2_nfs_get_inode()), and a directory reconnected through the ".."
  /// entries on the disk (ext2_get_parent()), as the kernel's ext2 does on
  /// the same image.
  func testOnAReadOnlyExt2HandlesAreDecodedFromTheDisk() throws {
    let work = try makeTempDir("ext2handles")
    defer { try? FileManager.default.removeItem(atPath: work) }
    let made = sh(
      "mkdir -p \(shq(work))/src/a/b/c \(shq(work))/src/x && printf deep > \(shq(work))/src/a/b/c/g"
    )
    XCTAssertTrue(made.ok, "\(made)")
    let image = work + "/handles.img"
    let mkfs = runCommand(
      "mke2fs", ["-q", "-F", "-t", "ext2", "-b", "4096", "-d", work + "/src", image, "16M"])
    XCTAssertTrue(mkfs.ok, "\(mkfs)")
    let ours = try VfsMount(
      options: ["ro", "bare", "dcache_max=1"], arguments: ["-t", "ext2", image])
    defer { ours.unmount() }
    let kernel = try KernelLoopMount(image: image, options: ["ro"])
    defer { kernel.unmount() }
    for path in ["a/b/c", "a/b/c/g", "x"] {
      let expected = decodeAfterDropCaches(mount: kernel.path, path)
      XCTAssertEqual(decodeAfterDropCaches(mount: ours.path, path), expected, path)
    }
    XCTAssertEqual(decodeAfterDropCaches(mount: ours.path, "a/b/c"), "OK /a/b/c")
  }
}
