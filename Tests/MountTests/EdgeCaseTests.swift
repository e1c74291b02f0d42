import Foundation
import XCTest

#if canImport(Glibc)
  import Glibc
#endif

/// Corners a FUSE bridge gets wrong more easily than a kernel file system: names
/// as bytes, big directories read while they change, deep paths, concurrency,
/// locks, exec, copy_file_range, O_TMPFILE, d_type.
final class EdgeCaseTests: ConformanceTestCase {
  /// Names in a directory as raw bytes, with their d_type.
  private func rawEntries(_ path: String) -> [([UInt8], UInt8)] {
    guard let dir = opendir(path) else { return [] }
    defer { closedir(dir) }
    var out: [([UInt8], UInt8)] = []
    while let e = readdir(dir) {
      let name = withUnsafeBytes(of: e.pointee.d_name) { Array($0.prefix { $0 != 0 }) }
      if name != [46] && name != [46, 46] { out.append((name, e.pointee.d_type)) }
    }
    return out.sorted { $0.0.lexicographicallyPrecedes($1.0) }
  }

  func testNamesAreBytes() {
    sideBySide { t in
      let names: [[UInt8]] = [
        Array("with space".utf8), Array("new\nline".utf8), Array("tab\there".utf8),
        Array("ünïcödé-名前".utf8),
        Array("back\\slash".utf8), [0x66, 0xff, 0xfe, 0x80], Array("-dash".utf8), Array("...".utf8),
        Array(" leading".utf8), Array("trailing ".utf8), Array("emoji-🚀".utf8), [0x01, 0x02, 0x1b],
      ]
      for name in names {
        let path = Array(t.root.utf8) + [UInt8(ascii: "/")] + name + [0]
        let fd = path.withUnsafeBufferPointer {
          Glibc.open(
            UnsafeRawPointer($0.baseAddress!).assumingMemoryBound(to: CChar.self),
            O_WRONLY | O_CREAT, 0o644)
        }
        t.check("create \(name)", fd >= 0 ? "OK" : errnoName(errno), "OK")
        if fd >= 0 {
          _ = writeAll(fd, name)
          close(fd)
        }
        let back = path.withUnsafeBufferPointer { p -> [UInt8] in
          let fd = Glibc.open(
            UnsafeRawPointer(p.baseAddress!).assumingMemoryBound(to: CChar.self), O_RDONLY)
          defer { if fd >= 0 { close(fd) } }
          return fd < 0 ? [] : ((try? readAll(fd).get()) ?? [])
        }
        t.check("read back \(name)", back, name)
      }
      let listed = rawEntries(t.root).map(\.0)
      t.check(
        "readdir returns the exact bytes", listed, names.sorted { $0.lexicographicallyPrecedes($1) }
      )
      t.check("rename to a byte name", t.rename("with space", "\u{7f}del"), "OK")
      t.check("the renamed file", t.get("\u{7f}del"), "with space")
      t.check("name with a slash is two components", t.open("a/b", O_WRONLY | O_CREAT), "ENOENT")
    }
  }

  func testBigDirectoryAndReaddirDuringChanges() {
    sideBySide { t in
      _ = t.mkdir("big")
      var ok = true
      for i in 0..<1500
      where t.put("big/entry-\(i)-" + String(repeating: "x", count: i % 200), "") != "OK" {
        ok = false
      }
      t.check("create 1500 entries", ok, true)
      let names = t.ls("big").split(separator: ",")
      t.check("readdir lists all", names.count, 1500)
      t.check("no duplicates", Set(names).count, 1500)
      t.check("dir nlink", t.nlink("big"), 2)
      // Remove entries while reading: every entry not removed is returned exactly once.
      guard let dir = opendir(t.p("big")) else {
        t.check("opendir", errnoName(errno), "OK")
        return
      }
      var seen: [String: Int] = [:]
      var removed = Set<String>()
      var n = 0
      while let e = readdir(dir) {
        let name = withUnsafeBytes(of: e.pointee.d_name) {
          String(decoding: $0.prefix { $0 != 0 }, as: UTF8.self)
        }
        if name == "." || name == ".." { continue }
        seen[name, default: 0] += 1
        n += 1
        if n % 3 == 0 {
          // Remove an entry that sorts late, probably not yet seen.
          let victim =
            "entry-\(1499 - n / 3)-" + String(repeating: "x", count: (1499 - n / 3) % 200)
          if Glibc.unlink(t.p("big/" + victim)) == 0 { removed.insert(victim) }
        }
      }
      let survivors = Set(t.ls("big").split(separator: ",").map(String.init))
      t.check("each survivor seen exactly once", survivors.allSatisfy { seen[$0] == 1 }, true)
      t.check("no entry seen twice", seen.values.allSatisfy { $0 == 1 }, true)
      t.check("survivors + removed = all", survivors.count + removed.count, 1500)
      // telldir / seekdir: resuming at a saved position returns the same next entry.
      rewinddir(dir)
      for _ in 0..<100 { _ = readdir(dir) }
      let pos = telldir(dir)
      let next1 = readdir(dir).map { e in
        withUnsafeBytes(of: e.pointee.d_name) {
          String(decoding: $0.prefix { $0 != 0 }, as: UTF8.self)
        }
      }
      for _ in 0..<50 { _ = readdir(dir) }
      seekdir(dir, pos)
      let next2 = readdir(dir).map { e in
        withUnsafeBytes(of: e.pointee.d_name) {
          String(decoding: $0.prefix { $0 != 0 }, as: UTF8.self)
        }
      }
      t.check("seekdir returns to the same entry", next1 != nil && next1 == next2, true)
      closedir(dir)
      t.check("rm -rf a big dir", t.sh("rm -rf big && echo gone").out, "gone")
    }
  }

  func testDTypes() {
    sideBySide { t in
      t.put("f", "")
      _ = t.mkdir("d")
      _ = t.symlink("f", "l")
      _ = t.mknod("p", S_IFIFO | 0o644)
      _ = t.mknod("s", S_IFSOCK | 0o644)
      _ = t.mknod("b", S_IFBLK | 0o644, makeDev(7, 0))
      let types = rawEntries(t.root).map { "\(String(decoding: $0.0, as: UTF8.self))=\($0.1)" }
        .joined(separator: " ")
      // DT_BLK 6, DT_DIR 4, DT_LNK 10, DT_FIFO 1, DT_SOCK 12, DT_REG 8
      t.check("d_type of each kind", types, "b=6 d=4 f=8 l=10 p=1 s=12")
    }
  }

  func testDeepAndLongPaths() {
    sideBySide { t in
      var path = ""
      var ok = true
      for i in 0..<60 {
        path += (i == 0 ? "" : "/") + "level\(i)"
        if t.mkdir(path) != "OK" { ok = false }
      }
      t.check("mkdir 60 levels", ok, true)
      t.check("file at the bottom", t.put(path + "/leaf", "deep"), "OK")
      t.check("read at the bottom", t.get(path + "/leaf"), "deep")
      t.check("find depth", t.sh("find level0 -name leaf | tr '/' '\\n' | wc -l").out, "61")
      // A path longer than PATH_MAX (4096) is refused.
      let comp = String(repeating: "c", count: 200)
      var long = ""
      for _ in 0..<21 { long += comp + "/" }
      t.check("path over PATH_MAX", t.open(long + "f", O_RDONLY), "ENAMETOOLONG")
      // Reaching a deep file through a relative path from an open directory works beyond PATH_MAX.
      var dirfd = Glibc.open(t.root, O_RDONLY | O_DIRECTORY)
      var ok2 = true
      for _ in 0..<25 {
        if mkdirat(dirfd, comp, 0o755) != 0 { ok2 = false }
        let next = openat(dirfd, comp, O_RDONLY | O_DIRECTORY)
        close(dirfd)
        dirfd = next
        if next < 0 {
          ok2 = false
          break
        }
      }
      t.check("25 levels of 200-byte names (past PATH_MAX) through openat", ok2, true)
      let fd = openat(dirfd, "bottom", O_WRONLY | O_CREAT, 0o644)
      t.check("create at the bottom", fd >= 0, true)
      if fd >= 0 { close(fd) }
      close(dirfd)
      t.check("rm -rf the deep tree", t.sh("rm -rf level0 \(comp) && ls -A").out, "")
    }
  }

  func testConcurrency() {
    sideBySide { t in
      // Threads writing disjoint regions of one file through one descriptor.
      let fd = Glibc.open(t.p("shared"), O_RDWR | O_CREAT, 0o644)
      let chunk = 64 * 1024
      DispatchQueue.concurrentPerform(iterations: 16) { i in
        let data = [UInt8](repeating: UInt8(65 + i), count: chunk)
        _ = data.withUnsafeBytes { Glibc.pwrite(fd, $0.baseAddress, chunk, off_t(i * chunk)) }
      }
      t.check("size after parallel writes", t.fstat(fd).map { Int($0.st_size) }, 16 * chunk)
      let all = t.bytes("shared")
      let right = (0..<16).allSatisfy { i in
        all.count == 16 * chunk
          && all[(i * chunk)..<((i + 1) * chunk)].allSatisfy { $0 == UInt8(65 + i) }
      }
      t.check("each region holds its writer's bytes", right, true)
      close(fd)
      // Processes creating, renaming and removing in one directory at once.
      let r = t.sh(
        """
        mkdir race && for p in 1 2 3 4; do
          ( for i in $(seq 1 60); do echo $p.$i > race/$p.$i && mv race/$p.$i race/m$p.$i && [ $((i % 3)) -eq 0 ] && rm race/m$p.$i; done; true ) &
        done; wait; ls race | wc -l; cat race/* | sort | head -3
        """)
      t.check("parallel create/rename/unlink", r.out, "160\n1.1\n1.10\n1.11")
      // Threads appending with O_APPEND never overwrite each other.
      let afd = Glibc.open(t.p("log"), O_WRONLY | O_CREAT | O_APPEND, 0o644)
      DispatchQueue.concurrentPerform(iterations: 8) { i in
        for j in 0..<50 { _ = writeAll(afd, Array("thread \(i) line \(j)\n".utf8)) }
      }
      close(afd)
      let lines = t.get("log").split(separator: "\n")
      t.check("O_APPEND lines", lines.count, 400)
      t.check(
        "O_APPEND lines intact",
        Set(lines).count == 400 && lines.allSatisfy { $0.hasPrefix("thread ") }, true)
    }
  }

  func testLocksFsyncExecCopy() {
    sideBySide { t in
      t.put("lock", "")
      t.check(
        "flock conflicts between processes",
        t.sh("flock lock sleep 1 & sleep 0.3; flock -n lock true; echo $?; wait").out, "1")
      t.check("flock free again", t.sh("flock -n lock true; echo $?").out, "0")
      t.check(
        "fcntl F_SETLK",
        t.withFD("lock", O_RDWR) { fd -> String in
          var fl = flock()
          fl.l_type = Int16(F_WRLCK)
          fl.l_whence = Int16(SEEK_SET)
          fl.l_start = 0
          fl.l_len = 10
          return result(fcntl(fd, F_SETLK, &fl))
        }, "OK")
      t.check("fsync", t.withFD("lock", O_WRONLY) { result(fsync($0)) }, "OK")
      t.check("fdatasync", t.withFD("lock", O_WRONLY) { result(fdatasync($0)) }, "OK")
      t.check("fsync on a dir", t.withFD("", O_RDONLY) { result(fsync($0)) }, "OK")
      t.check("syncfs via sync -f", t.sh("sync -f . && echo ok").out, "ok")
      // Executables run from the mount; writing to a running one is ETXTBSY.
      t.check(
        "copy a binary in",
        t.sh("cp /bin/sleep ./sleeper && chmod 755 sleeper && ./sleeper 0 && echo ran").out, "ran")
      t.check(
        "ETXTBSY while it runs",
        t.sh(
          "./sleeper 1 & sleep 0.3; { echo x >> sleeper; } 2>&1 | grep -o 'Text file busy'; wait"
        ).out, "Text file busy")
      t.check(
        "a script runs",
        t.sh("printf '#!/bin/sh\\necho script\\n' > s.sh && chmod +x s.sh && ./s.sh").out, "script")
      t.check("no x bit: EACCES", t.sh("chmod 644 s.sh; ./s.sh 2>/dev/null; echo $?").out, "126")
      t.check("root access X_OK without any x bit", t.access("s.sh", X_OK), "EACCES")
      _ = t.chmod("s.sh", 0o700)
      t.check("root access X_OK with the owner x bit", t.access("s.sh", X_OK), "OK")
      t.check(
        "root access W_OK on a 0444 file",
        t.chmod("s.sh", 0o444) == "OK" ? t.access("s.sh", W_OK) : "chmod failed", "OK")
      // copy_file_range between two files of the mount.
      t.put("src", String(repeating: "0123456789", count: 10000))
      let cfr = libcFunction(
        "copy_file_range",
        as: (@convention(c) (
          Int32, UnsafeMutablePointer<Int>?, Int32, UnsafeMutablePointer<Int>?, Int, UInt32
        ) -> Int).self)
      let sfd = Glibc.open(t.p("src"), O_RDONLY)
      let dfd = Glibc.open(t.p("dst"), O_WRONLY | O_CREAT | O_TRUNC, 0o644)
      var copied = 0
      while copied < 100_000 {
        let n = cfr(sfd, nil, dfd, nil, 100_000 - copied, 0)
        if n <= 0 { break }
        copied += n
      }
      close(sfd)
      close(dfd)
      t.check("copy_file_range copies everything", copied, 100_000)
      t.check("copy matches", t.get("dst") == t.get("src"), true)
      t.check("sendfile via cat", t.sh("cat src > dst2 && cmp src dst2 && echo same").out, "same")
    }
  }

  /// O_TMPFILE works on tmpfs; libfuse 3.14 has no tmpfile operation, so on
  /// vfsmount's libfuse engine it is EOPNOTSUPP (a documented difference,
  /// README "Known differences"); the native engine serves FUSE_TMPFILE
  /// (NativeFeaturesTests). Both halves are checked, so a change on either shows.
  func testTmpfile() {
    let O_TMPFILE: Int32 = 0o20_200_000
    let onTmpfs = Glibc.open(tmpfs.path, O_TMPFILE | O_RDWR, 0o600)
    XCTAssertGreaterThanOrEqual(onTmpfs, 0, "tmpfs supports O_TMPFILE")
    if onTmpfs >= 0 { close(onTmpfs) }
    let onVfs = Glibc.open(vfs.path, O_TMPFILE | O_RDWR, 0o600)
    let error = onVfs < 0 ? errnoName(errno) : "OK"
    if onVfs >= 0 { close(onVfs) }
    XCTAssertEqual(
      error, testUsesNativeEngine ? "OK" : "EOPNOTSUPP",
      "O_TMPFILE on vfsmount (libfuse 3.14 has no tmpfile op; the native engine has)")
  }

  func testDirectoryBusyOperations() {
    sideBySide { t in
      _ = t.mkdir("d")
      t.check(
        "cwd renamed under a shell",
        t.sh("cd d && mv ../d ../e && pwd -P | sed 's|.*/||' && touch here && ls").out, "e\nhere")
      t.check(
        "open dir fd survives rename",
        t.withFD("e", O_RDONLY | O_DIRECTORY) { fd -> String in
          guard t.rename("e", "f") == "OK" else { return "rename failed" }
          let n = openat(fd, "here", O_RDONLY)
          defer { if n >= 0 { close(n) } }
          return n >= 0 ? "OK" : errnoName(errno)
        }, "OK")
      t.check(
        "rmdir the cwd of a shell",
        t.sh("mkdir g && cd g && rmdir ../g && touch x 2>/dev/null; echo $?").out, "1")
    }
  }
}
