import XCTest

#if canImport(Glibc)
  import Glibc
#endif

/// Everyday tools run on both mounts; their output must match, and match what
/// the tools print on any POSIX file system.
final class ShellTests: ConformanceTestCase {
  /// Runs `script` in the side's work dir and records its status and output.
  private func shell(
    _ t: Side, _ label: String, _ script: String, expect: String? = nil,
    file: StaticString = #filePath,
    line: UInt = #line
  ) {
    let r = t.sh(script)
    var out = r.stdout
    while out.hasSuffix("\n") { out.removeLast() }
    t.check("\(label): exit status (stderr: \(r.stderr))", r.status, 0, file: file, line: line)
    t.check("\(label): output", out, expect, file: file, line: line)
  }

  func testEchoCatLs() {
    sideBySide { t in
      shell(
        t, "echo > and >>", "echo hello > a && echo world >> a && cat a", expect: "hello\nworld")
      shell(t, "printf without newline", "printf abc > b && cat b && wc -c < b", expect: "abc3")
      shell(t, "overwrite with >", "echo new > a && cat a", expect: "new")
      shell(t, "mkdir -p", "mkdir -p x/y/z && ls -R x", expect: "x:\ny\n\nx/y:\nz\n\nx/y/z:")
      shell(t, "mkdir -p existing", "mkdir -p x/y && echo ok", expect: "ok")
      shell(t, "ln", "ln a x/hard && stat -c '%h %s' a x/hard", expect: "2 4\n2 4")
      shell(
        t, "ln -s and readlink", "ln -s ../a x/soft && readlink x/soft && cat x/soft",
        expect: "../a\nnew")
      shell(t, "readlink -f", "readlink -f x/soft | sed \"s|^$T|T|\"", expect: "T/a")
      shell(t, "chmod", "chmod 640 a && stat -c '%a %A' a", expect: "640 -rw-r-----")
      shell(t, "chmod symbolic", "chmod u+x,g-r,o+w a && stat -c '%a' a", expect: "702")
      shell(
        t, "chown", "chown 1000:1000 a && stat -c '%u:%g' a x/hard", expect: "1000:1000\n1000:1000")
      shell(
        t, "touch -d", "touch -d '2020-01-02 03:04:05.123456789' a && stat -c '%y' a",
        expect: "2020-01-02 03:04:05.123456789 +0000")
      shell(
        t, "touch -a -d", "touch -a -d '2001-02-03 04:05:06' a && stat -c '%x|%y' a",
        expect: "2001-02-03 04:05:06.000000000 +0000|2020-01-02 03:04:05.123456789 +0000")
      shell(
        t, "touch -r", "touch -r a b && stat -c '%y' b",
        expect: "2020-01-02 03:04:05.123456789 +0000")
      shell(t, "touch creates", "touch new && stat -c '%s %F' new", expect: "0 regular empty file")
      shell(
        t, "truncate -s",
        "truncate -s 10 a && stat -c %s a && truncate -s -6 a && stat -c %s a && od -An -c a | tr -s ' '",
        expect: "10\n4\n n e w \\n")
      shell(
        t, "truncate -s grows sparse", "truncate -s 1G sparse && stat -c '%s %b' sparse",
        expect: "1073741824 0")
      shell(t, "mkfifo", "mkfifo f && stat -c '%F %a' f", expect: "fifo 644")
      shell(t, "mknod p", "mknod p2 p && stat -c '%F' p2", expect: "fifo")
      shell(
        t, "mknod b", "mknod blk b 8 3 && stat -c '%F %t %T' blk", expect: "block special file 8 3")
      // Directory sizes are file-system specific (tmpfs counts 20 bytes per entry): masked.
      // The work dir's ".." is the mount root, whose contents differ (vfsmount has /dev, /proc): left out.
      shell(
        t, "ls -la",
        "ls -la --time-style=+ . x | sed 's/  */ /g' | awk '/^d/ { $5 = \"-\" } { print }' | grep -v ' \\.\\.$'"
      )
      shell(
        t, "ls -li consistent with stat",
        "[ \"$(ls -i a | cut -d' ' -f1)\" = \"$(stat -c %i a)\" ] && echo same", expect: "same")
      shell(t, "ls -1 sorted", "ls -1", expect: "a\nb\nblk\nf\nnew\np2\nsparse\nx")
      shell(
        t, "stat of a dir", "stat -c '%F %a %h' x x/y", expect: "directory 755 3\ndirectory 755 3")
      shell(t, "stat -f", "stat -f -c '%l %S' .", expect: "255 4096")
      shell(t, "df runs", "df . > /dev/null && df -i . > /dev/null && df -h . | wc -l", expect: "2")
      shell(t, "df sizes (both default to half of RAM)", "df -B1 --output=size,itotal . | tail -1")
      shell(t, "rm", "rm a && ls x && cat x/hard", expect: "hard\nsoft\ny\nnew")
      shell(
        t, "dangling symlink", "cat x/soft 2>&1; echo $?",
        expect: "cat: x/soft: No such file or directory\n1")
      shell(t, "rm -rf", "rm -rf x && ls -1", expect: "b\nblk\nf\nnew\np2\nsparse")
      shell(
        t, "rmdir non-empty", "mkdir -p q/r && rmdir q 2>&1; echo $?",
        expect: "rmdir: failed to remove 'q': Directory not empty\n1")
      shell(t, "mv file", "mv b q/r/b2 && cat q/r/b2", expect: "abc")
      shell(t, "mv dir", "mv q q2 && find q2 | sort", expect: "q2\nq2/r\nq2/r/b2")
      shell(
        t, "mv over an existing file",
        "echo 1 > m1 && echo 2 > m2 && mv m1 m2 && cat m2 && ls m1 2>&1; true",
        expect: "1\nls: cannot access 'm1': No such file or directory")
    }
  }

  func testCopyTreesAndFind() {
    sideBySide { t in
      shell(
        t, "build a tree",
        """
        mkdir -p src/a/b src/empty && echo one > src/a/one && echo two > src/a/b/two &&
        ln -s a/one src/link && ln src/a/one src/hard && chmod 700 src/a/b && chmod 4755 src/a/one &&
        truncate -s 100000 src/sparse && printf tail >> src/sparse && mkfifo src/fifo &&
        touch -h -d '2019-05-06 07:08:09' src/link && touch -d '2018-01-01 00:00:00.5' src/a/b/two &&
        setfattr -n user.tag -v tagged src/a/one && chown -R 1000:1000 src/empty
        """)
      shell(t, "cp -a", "cp -a src dst && echo done", expect: "done")
      shell(
        t, "diff -r", "diff -r --no-dereference --exclude=fifo src dst && echo same", expect: "same"
      )
      shell(
        t, "cp -a kept metadata",
        "cd dst && stat -c '%n %F %a %u:%g %h' a a/one a/b a/b/two link hard sparse fifo empty",
        expect: """
          a directory 755 0:0 3
          a/one regular file 4755 0:0 2
          a/b directory 700 0:0 2
          a/b/two regular file 644 0:0 1
          link symbolic link 777 0:0 1
          hard regular file 4755 0:0 2
          sparse regular file 644 0:0 1
          fifo fifo 644 0:0 1
          empty directory 755 1000:1000 2
          """)
      shell(
        t, "cp -a kept xattrs", "getfattr -n user.tag --only-values dst/a/one", expect: "tagged")
      shell(
        t, "cp -a kept mtime ns", "stat -c '%y' dst/a/b/two",
        expect: "2018-01-01 00:00:00.500000000 +0000")
      shell(
        t, "cp -a kept symlink time", "stat -c '%y' dst/link",
        expect: "2019-05-06 07:08:09.000000000 +0000")
      shell(
        t, "cp -a kept hard links", "[ dst/a/one -ef dst/hard ] && echo linked", expect: "linked")
      shell(t, "cp --sparse kept holes", "stat -c '%s %b' dst/sparse", expect: "100004 8")
      shell(t, "find with types", "find src -printf '%y %m %n %s %p\\n' | sort -k5")
      shell(
        t, "find -type f", "find src -type f | sort",
        expect: "src/a/b/two\nsrc/a/one\nsrc/hard\nsrc/sparse")
      shell(
        t, "find -newer", "find src -newer src/a/b/two -type f | sort",
        expect: "src/a/one\nsrc/hard\nsrc/sparse")
      shell(t, "find -empty", "find src -empty | sort", expect: "src/empty")
      shell(t, "find -links", "find src -links 2 -type f | sort", expect: "src/a/one\nsrc/hard")
      shell(
        t, "du -s (apparent)", "du -s --apparent-size -B1 src/sparse | cut -f1", expect: "100004")
      shell(t, "du -s (allocated)", "du -s -B1 src/sparse | cut -f1", expect: "4096")
      shell(
        t, "mv a tree", "mv dst moved && ls moved", expect: "a\nempty\nfifo\nhard\nlink\nsparse")
      shell(t, "rm -rf a tree", "rm -rf moved src && ls -A", expect: "")
      shell(t, "mkdir -p -m", "mkdir -p -m 711 p/q && stat -c %a p p/q", expect: "755\n711")
      shell(
        t, "install -m", "echo x > s && install -m 604 s p/inst && stat -c %a p/inst", expect: "604"
      )
    }
  }

  func testXattrTools() {
    sideBySide { t in
      shell(
        t, "setfattr",
        "echo x > f && setfattr -n user.a -v one f && setfattr -n user.b -v 0x414243 f && echo ok",
        expect: "ok")
      shell(t, "getfattr -d", "getfattr -d f", expect: "# file: f\nuser.a=\"one\"\nuser.b=\"ABC\"")
      shell(t, "getfattr -n", "getfattr -n user.a --only-values f", expect: "one")
      shell(
        t, "getfattr -e hex", "getfattr -e hex -n user.b f | tail -n +2", expect: "user.b=0x414243")
      shell(
        t, "setfattr -x", "setfattr -x user.a f && getfattr -d f",
        expect: "# file: f\nuser.b=\"ABC\"")
      shell(
        t, "getfattr missing", "getfattr -n user.none f 2>&1; echo $?",
        expect: "f: user.none: No such attribute\n1")
      shell(
        t, "trusted as root", "setfattr -n trusted.t -v v f && getfattr -m - -d f",
        expect: "# file: f\ntrusted.t=\"v\"\nuser.b=\"ABC\"")
      shell(
        t, "on a dir", "mkdir d && setfattr -n user.d -v 1 d && getfattr --only-values -n user.d d",
        expect: "1")
      shell(
        t, "-h on a symlink", "ln -s f l && setfattr -h -n user.x -v 1 l 2>&1; echo $?",
        expect: "setfattr: l: Operation not permitted\n1")
    }
  }

  func testTar() {
    sideBySide { t in
      shell(
        t, "build",
        "mkdir -p src/d/e && echo a > src/a && echo b > src/d/b && ln -s ../a src/d/l && ln src/a src/h && truncate -s 70000 src/d/e/sp && chmod 751 src/d"
      )
      shell(t, "tar create", "tar -C src -cSf tree.tar . && echo ok", expect: "ok")
      shell(
        t, "tar list", "tar -tf tree.tar | sort",
        expect: "./\n./a\n./d/\n./d/b\n./d/e/\n./d/e/sp\n./d/l\n./h")
      shell(t, "tar extract", "mkdir out && tar -C out -xpf tree.tar && echo ok", expect: "ok")
      shell(t, "diff", "diff -r --no-dereference src out && echo same", expect: "same")
      shell(
        t, "extracted metadata",
        "cd out && stat -c '%n %a %h %s' a d/b d/l h d/e/sp && stat -c '%n %a %h' d",
        expect: "a 644 2 2\nd/b 644 1 2\nd/l 777 1 4\nh 644 2 2\nd/e/sp 644 1 70000\nd 751 3")
      shell(t, "tar from stdin to stdout", "tar -C src -cf - . | tar -tvf - | wc -l", expect: "8")
      shell(
        t, "gzip round trip",
        "tar -C src -czf t.tgz . && mkdir z && tar -C z -xzf t.tgz && diff -r src z && echo same",
        expect: "same")
    }
  }

  func testBigFileCopy() throws {
    let blob = (NSTemporaryDirectory() as NSString).appendingPathComponent("blob-\(getpid())")
    defer { unlink(blob) }
    XCTAssertEqual(sh("head -c 9000000 /dev/urandom > \(shq(blob))").status, 0)
    let sum = sh("sha256sum < \(shq(blob)) | cut -d' ' -f1").out
    XCTAssertEqual(sum.count, 64)
    sideBySide { t in
      shell(t, "cp in", "cp \(shq(blob)) big && sha256sum < big | cut -d' ' -f1", expect: sum)
      shell(
        t, "dd with odd block size",
        "dd if=big of=big2 bs=4097 status=none && cmp big big2 && echo same", expect: "same")
      shell(t, "size", "stat -c %s big", expect: "9000000")
      shell(t, "cat | wc", "cat big | wc -c", expect: "9000000")
      shell(t, "append", "cat big >> big2 && stat -c %s big2", expect: "18000000")
      shell(
        t, "cmp halves", "cmp -n 9000000 big big2 && cmp -i 0:9000000 big big2 && echo same",
        expect: "same")
      shell(
        t, "dd seek (sparse)",
        "dd if=big of=holey bs=1M seek=100 count=1 status=none && stat -c '%s %b' holey",
        expect: "105906176 2048")
      shell(
        t, "mv big out", "mv big \"$M/moved\" && sha256sum < \"$M/moved\" | cut -d' ' -f1",
        expect: sum)
    }
  }

  func testGit() {
    sideBySide { t in
      let git =
        "git -c user.name=Test -c user.email=test@example.com -c init.defaultBranch=main -c core.fsync=all"
      shell(t, "git init", "\(git) init -q repo && cd repo && echo ok", expect: "ok")
      shell(
        t, "first commit",
        "cd repo && echo hello > f && mkdir -p sub && echo x > sub/x && \(git) add -A && \(git) commit -qm first && \(git) log --format=%s",
        expect: "first")
      shell(t, "tree hash", "cd repo && \(git) rev-parse HEAD^{tree}")
      shell(
        t, "ls-tree", "cd repo && \(git) ls-tree -r HEAD",
        expect: """
          100644 blob ce013625030ba8dba906f756967f9e9ca394464a\tf
          100644 blob 587be6b4c3f93f93c489c0111bba5596147a26cb\tsub/x
          """)
      shell(
        t, "second commit with a rename and chmod",
        "cd repo && \(git) mv f g && chmod +x sub/x && echo more >> g && \(git) commit -qam second && \(git) log --format=%s",
        expect: "second\nfirst")
      shell(t, "status clean", "cd repo && \(git) status --porcelain", expect: "")
      shell(
        t, "diff names", "cd repo && \(git) diff --no-renames --name-status HEAD~1 HEAD",
        expect: "D\tf\nA\tg\nM\tsub/x")
      shell(
        t, "fsck", "cd repo && \(git) fsck --strict 2>&1 | grep -v '^Checking' ; echo done",
        expect: "done")
      shell(
        t, "gc", "cd repo && \(git) gc -q && \(git) count-objects -v | grep -E '^(count|in-pack):'",
        expect: "count: 0\nin-pack: 9")
      shell(
        t, "clone",
        "\(git) clone -q repo clone && cd clone && cat g && \(git) log --format=%s | wc -l",
        expect: "hello\nmore\n2")
      shell(
        t, "branch and checkout",
        "cd repo && \(git) checkout -qb side HEAD~1 && ls && \(git) checkout -q main && ls",
        expect: "f\nsub\ng\nsub")
    }
  }
}
