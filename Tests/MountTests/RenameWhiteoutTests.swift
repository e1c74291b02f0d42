import Foundation
import XCTest

#if canImport(Glibc)
  import Glibc
#endif

/// renameat2(2) with RENAME_WHITEOUT, as overlayfs uses it, side by side:
/// the old name is left to a whiteout, a char node 0:0 with mode 0.
final class RenameWhiteoutTests: ConformanceTestCase {
  static let whiteout: UInt32 = 4  // RENAME_WHITEOUT

  override func setUpWithError() throws {
    try skipOnExt2(
      "fs/ext2's ext2_rename() refuses RENAME_WHITEOUT with EINVAL, as vfsmount's ext2 does; the ext4 driver serving -t ext2 here supports it"
    )
    try super.setUpWithError()
  }

  /// st_rdev as "major:minor", or the errno.
  func rdev(_ t: Side, _ path: String) -> String {
    guard let st = t.lstat(path) else { return errnoName(errno) }
    return "\(devMajor(st.st_rdev)):\(devMinor(st.st_rdev))"
  }

  func testRenameWhiteoutLeavesANodeZeroZero() {
    sideBySide { t in
      t.put("a", "A")
      let ino = t.lstat("a")?.st_ino
      t.check("rename with a whiteout", t.renameat2("a", "c", Self.whiteout), "OK")
      t.check("the file moved", t.get("c"), "A")
      t.check("same inode", t.lstat("c")?.st_ino == ino, true)
      t.check("the old name is left", t.statResult("a"), "OK")
      t.check("its rdev", rdev(t, "a"), "0:0")
      t.check("its permissions", t.lstat("a").map { octal($0.perms) } ?? "none", "0")
      t.check("its owner", t.owner("a"), "0:0")
      t.check("its size and links", "\(t.size("a")) \(t.nlink("a"))", "0 1")
      t.check("listing", t.ls(), "a,c")
      t.check("directory size", t.size(""))
      // Over an existing file: the target is replaced.
      t.put("b", "B")
      t.check("whiteout over an existing file", t.renameat2("c", "b", Self.whiteout), "OK")
      t.check("replaced", t.get("b"), "A")
      t.check("listing after", t.ls(), "a,b,c")
      t.check("with NOREPLACE onto a name", t.renameat2("b", "a", Self.whiteout | 1), "EEXIST")
      t.check("with NOREPLACE to a new name", t.renameat2("b", "n", Self.whiteout | 1), "OK")
      t.check("with EXCHANGE", t.renameat2("n", "a", Self.whiteout | 2), "EINVAL")
      t.check("nothing moved", t.get("n"), "A")
      // A directory moves too, and its old name becomes a whiteout.
      _ = t.mkdir("dd")
      t.put("dd/x", "X")
      t.check("a directory", t.renameat2("dd", "ee", Self.whiteout), "OK")
      t.check("its content moved", t.get("ee/x"), "X")
      t.check("its old name", rdev(t, "dd"), "0:0")
      t.check("links of the parent", t.nlink(""), 3)
      _ = t.mkdir("full")
      t.put("full/y", "Y")
      t.check("over a non-empty directory", t.renameat2("ee", "full", Self.whiteout), "ENOTEMPTY")
      t.check("no whiteout left then", t.ls(), "a,b,c,dd,ee,full,n")
      t.check("missing source", t.renameat2("none", "z", Self.whiteout), "ENOENT")
      // The whiteout is removed like any node.
      t.check("unlink a whiteout", t.unlink("a"), "OK")
    }
  }

  /// What stat(1) and ls show: a character special file 0, 0. (Needs the
  /// rule that a char node with no driver behind its number is shown as
  /// S_IFCHR at the FUSE boundary.)
  func testAWhiteoutIsShownAsACharNode() {
    sideBySide { t in
      t.put("a", "A")
      t.check("rename with a whiteout", t.renameat2("a", "c", Self.whiteout), "OK")
      t.check("type and mode", t.mode("a"), "chr 0")
      let r = t.sh("stat -c '%F %t:%T' a; find . -type c")
      t.check("stat and find", r.stdout, "character special file 0:0\n./a\n")
    }
  }

  /// Since Linux 5.8 a whiteout needs no privilege (a 0:0 char node is the
  /// one mknod allows without CAP_MKNOD): a user may make one where it may
  /// write, owned by that user.
  func testAUserMakesAWhiteoutOwnedByThemselves() {
    sideBySide { t in
      _ = t.mkdir("u", 0o777)
      _ = t.chmod("u", 0o1777)
      t.probeChecks(
        "uid 1000",
        [
          (["create", "@u/f"], "OK"),
          (["rename2", "@u/f", "@u/g", "4"], "OK"),
          (["rename2", "@u/g", "@u/f", "6"], "EINVAL"),
        ])
      t.check("the whiteout's owner", t.owner("u/f"), "1000:1000")
      t.check("its rdev", rdev(t, "u/f"), "0:0")
      t.check("the file", t.owner("u/g"), "1000:1000")
      // Not in a directory the user may not write.
      t.put("r", "root's")
      t.probeChecks("uid 1000 in a root directory", [(["rename2", "@r", "@r2", "4"], "EACCES")])
    }
  }

  /// overlayfs with its upper and work directories on the mount: deleting a
  /// lower file leaves a whiteout in upper. overlayfs asks a "remote" upper
  /// (one whose dentries revalidate, as FUSE's do) for RENAME_WHITEOUT that
  /// makes a real char node 0:0, else it refuses to mount (EINVAL, "upper fs
  /// missing required features" in dmesg).
  func testOverlayfsDeletesALowerFileThroughAWhiteout() throws {
    let lower = try makeTempDir("ovl-lower")
    defer { _ = sh("rm -rf \(shq(lower))") }
    XCTAssertEqual(sh("echo lower > \(shq(lower))/lf; echo keep > \(shq(lower))/keep").status, 0)
    sideBySide { t in
      _ = t.mkdir("U")
      _ = t.mkdir("W")
      let merged = (try? makeTempDir("ovl-merged")) ?? "/nonexistent"
      defer { rmdir(merged) }
      let r = runCommand(
        "/bin/mount",
        [
          "-t", "overlay", "overlay", "-o",
          "lowerdir=\(lower),upperdir=\(t.p("U")),workdir=\(t.p("W"))", merged,
        ])
      t.check("mount -t overlay with upper here", r.status == 0 ? "OK" : r.stderr, "OK")
      guard r.status == 0 else { return }
      defer { _ = runCommand("/bin/umount", ["-l", merged]) }
      t.check("merged view", t.ls(merged), "keep,lf")
      t.check("delete a lower file", t.unlink(merged + "/lf"), "OK")
      t.check("merged view after", t.ls(merged), "keep")
      t.check(
        "the whiteout in upper", t.sh("stat -c '%F %t:%T' U/lf").stdout,
        "character special file 0:0\n")
      t.check("write a new file", t.put(merged + "/new", "N"), "OK")
      t.check("it lands in upper", t.get("U/new"), "N")
      t.check("umount", runCommand("/bin/umount", [merged]).status, 0)
    }
    XCTAssertEqual(sh("cat \(shq(lower))/lf").stdout, "lower\n", "lower is untouched")
  }
}
