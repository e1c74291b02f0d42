import Foundation
import XCTest

#if canImport(Glibc)
  import Glibc
#endif

/// `vfsmount -t ext2 -o ro IMAGE DIR` against the kernel's own mount of the
/// same image (`mount -o loop,ro -t ext2`; on this machine the ext4 driver
/// serves it): the same names, types, inode numbers, modes, owners, link
/// counts, sizes, blocks, times in nanoseconds, device numbers, symlink
/// targets, xattrs and contents, as `find -printf`, `getfattr` and `cmp` see
/// them. Both are unmounted in teardown, whatever happened.
final class Ext2MountTests: XCTestCase {
  private var work: String!
  private var ours: VfsMount?
  private var kernel: KernelLoopMount?

  override func setUpWithError() throws {
    work = try makeTempDir("ext2mount")
  }

  override func tearDown() {
    ours?.unmount()
    ours = nil
    kernel?.unmount()
    kernel = nil
    if let work { try? FileManager.default.removeItem(atPath: work) }
    work = nil
  }

  /// A tree with every kind of file, made into a 1 KiB or 4 KiB image.
  private func makeImage(blockSize: Int) throws -> String {
    let src = work + "/src"
    let script = """
      set -e
      mkdir -p \(shq(src))/dir/deeper \(shq(src))/many
      cd \(shq(src))
      printf 'hello, ext2\\n' > small
      : > empty
      head -c 300000 /dev/urandom > dir/deeper/random
      dd if=/dev/urandom of=holey bs=64k count=4 2>/dev/null
      dd if=/dev/urandom of=holey bs=64k count=4 seek=60 conv=notrunc 2>/dev/null
      printf far | dd of=far bs=1 seek=83886080 conv=notrunc 2>/dev/null
      for i in $(seq 1 300); do : > many/entry-$i; done
      ln -s small fast
      ln -s \(String(repeating: "long/", count: 40)) slow
      ln small hardlink
      mknod chr c 1 7
      mknod blk b 8 3
      mknod newchr c 300 70000
      mkfifo fifo
      python3 -c 'import socket; socket.socket(socket.AF_UNIX).bind("sock")'
      chown 1234:5678 small
      chown 100000:200000 holey
      chmod 4750 holey
      chmod 1777 dir
      setfattr -n user.color -v blue small
      setfattr -n user.long -v \(String(repeating: "x", count: 300)) holey
      setfattr -n trusted.note -v root dir
      setfacl -m u:1234:rw,g:77:r empty
      touch -d '2020-02-03 04:05:06' small
      """
    let made = sh(script)
    XCTAssertTrue(made.ok, "\(made)")
    let image = work + "/image-\(blockSize).img"
    let mkfs = runCommand(
      "mke2fs", ["-q", "-F", "-t", "ext2", "-b", "\(blockSize)", "-d", src, image, "16M"])
    XCTAssertTrue(mkfs.ok, "\(mkfs)")
    runCommand("e2fsck", ["-fyD", image])  // htree for many/
    let ns = runCommand(
      "debugfs", ["-w", "-R", "sif small mtime_extra \(987_654_321 << 2)", image])
    XCTAssertTrue(ns.ok, "\(ns)")
    return image
  }

  private func mountBoth(_ image: String) throws -> (ours: String, kernel: String) {
    let m = try VfsMount(
      options: ["ro", "bare", "allow_other"], arguments: ["-t", "ext2", image])
    ours = m
    let k = try KernelLoopMount(image: image, options: ["ro"])
    kernel = k
    return (m.path, k.path)
  }

  /// One line per path: what stat shows (birth time left out: statx's btime
  /// has no field in the VFS's Stat).
  private func listing(_ root: String) -> String {
    let r = sh(
      "cd \(shq(root)) && find . -printf '%p %i %y %m %n %U %G %s %b %T@ %C@ %A@ %l\\n' | sort")
    XCTAssertTrue(r.ok, "\(r)")
    return r.stdout
  }

  private func devices(_ root: String) -> String {
    sh("cd \(shq(root)) && stat -c '%n %F %t:%T' chr blk newchr fifo sock").stdout
  }

  private func xattrs(_ root: String) -> String {
    sh("cd \(shq(root)) && getfattr -R -h -d -m - -e hex . 2>&1 | sort").stdout
  }

  private func check(blockSize: Int) throws {
    let image = try makeImage(blockSize: blockSize)
    let (a, b) = try mountBoth(image)
    let ourList = listing(a)
    XCTAssertEqual(ourList, listing(b), "find -printf")
    XCTAssertEqual(ourList.split(separator: "\n").count, 300 + 18, "every path listed")
    XCTAssertTrue(ourList.contains(".987654321"), "nanoseconds of ./small shown")
    XCTAssertEqual(devices(a), devices(b), "device numbers and types")
    XCTAssertEqual(xattrs(a), xattrs(b), "xattrs and ACLs")
    let ls = { (root: String) in sh("cd \(shq(root)) && ls -lR --time-style=full-iso .").stdout }
    XCTAssertEqual(ls(a), ls(b), "ls -lR")
    let contents = sh(
      "cmp \(shq(a))/holey \(shq(b))/holey && cmp \(shq(a))/far \(shq(b))/far && diff -r --no-dereference \(shq(a))/dir \(shq(b))/dir && cat \(shq(a))/small"
    )
    XCTAssertTrue(contents.ok, "\(contents)")
    XCTAssertEqual(contents.stdout, "hello, ext2\n")
    // Read-only: a write is EROFS.
    let write = sh("echo x > \(shq(a))/new")
    XCTAssertNotEqual(write.status, 0)
    XCTAssertTrue(write.stderr.contains("Read-only file system"), write.stderr)
  }

  func testOneKiBBlocksMatchTheKernel() throws { try check(blockSize: 1024) }
  func testFourKiBBlocksMatchTheKernel() throws { try check(blockSize: 4096) }
}
