import Foundation
import XCTest

#if canImport(Glibc)
  import Glibc
#endif

/// The side-by-side suite's core on ext2, in every run (issue 12's oracle):
/// `vfsmount -t ext2` on a fresh image against the kernel's ext2 (`mount -o
/// loop -t ext2`, served by the ext4 driver here) on another. A shell workload
/// with every kind of file, what `ls -l`, `stat` and `getfattr` show of it
/// (times and inode numbers aside), permissions as uid 1000, and the errnos
/// of the common refusals. SWIFTVFS_FS=ext2 runs the whole suite this way.
final class Ext2ConformanceTests: ConformanceTestCase {
  override class var usesExt2: Bool { true }
  /// Bare: the kernel's side has no /dev and /proc, and no Swift driver turns
  /// a char node into the regular-file view on this side either.
  override class var mountOptions: [String] { super.mountOptions + ["bare"] }
  /// The expectations below are written for ext2.
  override class var checksExpectations: Bool { true }

  /// Files of every kind, changed the ways a shell changes them.
  /// The xattr values are longer than the ext4 driver keeps in a 256-byte
  /// inode, so that on both sides they take a block (fs/ext2 always uses one)
  /// and st_blocks agree.
  static let workload = """
    set -e
    printf 'hello\\n' > f
    printf 'more\\n' >> f
    yes 0123456789abcdef | head -c 100000 > big
    truncate -s 5000 big
    truncate -s 70000 big
    yes sparse | dd of=sparse bs=4096 count=1 seek=300 iflag=fullblock 2>/dev/null
    printf new > g
    printf old > over
    mv g over
    ln over hard
    ln -s over sym
    ln -s \(String(repeating: "long/", count: 20))target slow
    mkdir -p d/e/gone
    rmdir d/e/gone
    chmod 4755 f
    chmod 1777 d
    chown 1234:5678 over
    chown -h 42:43 sym
    mknod chr c 1 7
    mknod blk b 8 3
    mknod fifo p
    setfattr -n user.color -v blue$(printf %0200d 0) f
    setfattr -n user.empty f
    setfattr -n trusted.note -v rootonly$(printf %0200d 0) d
    mv d/e d/moved
    """

  func testShellWorkloadLooksTheSame() {
    sideBySide { t in
      let r = t.sh(Self.workload)
      t.check("workload exit status \(r.stderr)", r.status, 0)
      // ls -l without the date column (--time-style=+ prints it empty).
      t.check("ls -ln output", t.sh("ls -lnR --time-style=+").out)
      t.check(
        "stat, times and inode numbers aside",
        t.sh("stat -c '%n %F %a %h %u:%g %s %b %t:%T %N' * d/* | sort").out)
      t.check("getfattr", t.sh("getfattr -R -h -d -m - . 2>&1 | sort").out)
      t.check("contents", t.sh("md5sum f over hard big sparse").out)
      t.check("hard link count", t.nlink("over"), 2)
      t.check("the fast symlink", t.readlink("sym"), "over")
      t.check("big's size after the truncates", t.size("big"), 70000)
      t.check(
        "the truncated tail reads zeros", Array(t.bytes("big")[5000...]).allSatisfy { $0 == 0 },
        true)
      t.check("a subdirectory adds a link", t.nlink("d"), 3)
      t.check("char node", t.mode("chr"), "chr 644")
      t.check(
        "its number", t.lstat("blk").map { "\(devMajor($0.st_rdev)),\(devMinor($0.st_rdev))" },
        "8,3")
      t.check("fifo", t.mode("fifo"), "fifo 644")
      let zeros = String(repeating: "0", count: 200)
      t.check("user xattr", t.getxattr("f", "user.color"), "blue" + zeros)
      t.check("trusted xattr", t.getxattr("d", "trusted.note"), "rootonly" + zeros)
      t.check("remove it", t.removexattr("d", "trusted.note"), "OK")
      t.check("removed", t.getxattr("d", "trusted.note"), "ENODATA")
      t.check(
        "rm -rf", t.sh("rm -rf d big sparse && ls").out,
        "blk\nchr\nf\nfifo\nhard\nover\nslow\nsym")
    }
  }

  func testPermissionsAsUid1000() {
    sideBySide { t in
      t.put("secret", "s", mode: 0o600)
      t.put("public", "p")
      t.put("mine", "m")
      _ = t.chown("mine", 1000, 1000)
      _ = t.mkdir("closed", 0o700)
      t.put("closed/inside", "i")
      _ = t.mkdir("open")
      _ = t.chmod("open", 0o777)
      _ = t.mkdir("sticky")
      _ = t.chmod("sticky", 0o1777)
      t.put("sticky/roots", "r", mode: 0o666)
      _ = Glibc.chmod(t.p("sticky/roots"), 0o666)
      t.probeChecks(
        "as uid 1000",
        [
          (["read", "@secret"], "EACCES"),
          (["read", "@public"], "OK p"),
          (["write", "@public", "x"], "EACCES"),
          (["read", "@closed/inside"], "EACCES"),
          (["create", "@closed/new"], "EACCES"),
          (["create", "@open/new"], "OK"),
          (["mkdir", "@open/sub", "755"], "OK"),
          (["unlink", "@secret"], "EACCES"),
          (["chmod", "@public", "777"], "EPERM"),
          (["chown", "@mine", "0", "-1"], "EPERM"),
          (["chmod", "@mine", "600"], "OK"),
          (["write", "@sticky/roots", "w"], "OK"),
          (["unlink", "@sticky/roots"], "EPERM"),
          (["rename", "@open/new", "@sticky/moved"], "OK"),
          (["setxattr", "@public", "user.x", "1"], "EACCES"),
        ])
      t.check("owner of what uid 1000 made", t.owner("open/sub"), "1000:1000")
      t.check("its mode (umask of vfsprobe)", t.mode("open/sub").hasPrefix("dir"), true)
      t.check("mine after chmod", t.mode("mine"), "reg 600")
    }
  }

  func testErrnos() {
    sideBySide { t in
      _ = t.mkdir("d")
      t.put("d/x", "x")
      t.put("f", "f")
      _ = t.mkdir("empty")
      t.check("rmdir of a non-empty directory", t.rmdir("d"), "ENOTEMPTY")
      t.check("rename over a non-empty directory", t.rename("empty", "d"), "ENOTEMPTY")
      t.check("mkdir of an existing name", t.mkdir("f"), "EEXIST")
      t.check("O_EXCL on an existing file", t.open("f", O_WRONLY | O_CREAT | O_EXCL), "EEXIST")
      t.check("link onto an existing name", t.link("f", "d/x"), "EEXIST")
      t.check("open of a missing file", t.open("none", O_RDONLY), "ENOENT")
      t.check("unlink of a missing file", t.unlink("none"), "ENOENT")
      t.check("rename of a missing file", t.rename("none", "other"), "ENOENT")
      t.check("open a directory for writing", t.open("d", O_WRONLY), "EISDIR")
      t.check("unlink a directory", t.unlink("d"), "EISDIR")
      t.check("rename a file over a directory", t.rename("f", "empty"), "EISDIR")
      t.check("rmdir a file", t.rmdir("f"), "ENOTDIR")
      t.check("a file as a directory", t.open("f/x", O_RDONLY), "ENOTDIR")
      t.check("rename a directory over a file", t.rename("empty", "f"), "ENOTDIR")
      t.check("O_DIRECTORY on a file", t.open("f", O_RDONLY | O_DIRECTORY), "ENOTDIR")
      let long = String(repeating: "n", count: 256)
      t.check("a 256-byte name", t.put(long, "x"), "ENAMETOOLONG")
      t.check("a 255-byte name", t.put(String(long.dropFirst()), "x"), "OK")
      t.check("mkdir of a 256-byte name", t.mkdir(long), "ENAMETOOLONG")
      _ = t.symlink("loop2", "loop1")
      _ = t.symlink("loop1", "loop2")
      t.check("a symlink loop", t.open("loop1", O_RDONLY), "ELOOP")
      t.check("O_NOFOLLOW on a symlink", t.open("loop1", O_RDONLY | O_NOFOLLOW), "ELOOP")
      t.check("link to a directory", t.link("d", "dlink"), "EPERM")
      t.check("a directory into itself", t.rename("d", "d/inside"), "EINVAL")
      t.check("rmdir of .", t.rmdir("d/."), "EINVAL")
      t.check("truncate a directory", t.truncate("d", 0), "EISDIR")
      t.check("mknod of an existing name", t.mknod("f", S_IFIFO | 0o644), "EEXIST")
      t.check("listing", t.ls(), "d,empty,f,loop1,loop2," + String(long.dropFirst()))
    }
  }
}
