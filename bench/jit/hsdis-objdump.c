/*
 * A HotSpot disassembler plugin that hands the code to binutils' objdump, for reading what C2
 * made of a kernel (-XX:CompileCommand=print,CLASS::METHOD). Debian's libhsdis0-fcml exports only
 * the old decode_instructions entry point, which JDK 17 and later do not call, and Capstone 4
 * stops at several AVX-512 forms the kernels use; objdump decodes them all.
 *
 *   gcc -O2 -shared -fPIC -o /tmp/hsdis/hsdis-amd64.so bench/jit/hsdis-objdump.c
 *   LD_LIBRARY_PATH=/tmp/hsdis java -XX:+UnlockDiagnosticVMOptions \
 *       -XX:CompileCommand=print,io.kvstream.model.tensor.Q4_0xQ8_0Dot::eightTokens ...
 *
 * The listing comes as objdump prints it (Intel syntax), without HotSpot's per-instruction
 * annotations. Not part of the build.
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

typedef void *(*event_callback)(void *, const char *, void *);
typedef int (*printf_callback)(void *, const char *, ...);

void *decode_instructions_virtual(uintptr_t start_va, uintptr_t end_va, unsigned char *buffer, uintptr_t length,
                                  event_callback event, void *event_stream, printf_callback print, void *print_stream,
                                  const char *options, int newline) {
    (void) end_va, (void) event, (void) event_stream, (void) options, (void) newline;
    char path[] = "/tmp/hsdis-XXXXXX";
    int fd = mkstemp(path);
    if (fd < 0) {
        return NULL;
    }
    ssize_t written = write(fd, buffer, length);
    close(fd);
    if (written == (ssize_t) length) {
        char command[512];
        snprintf(command, sizeof command,
                 "objdump -D -b binary -m i386:x86-64 -M intel --no-show-raw-insn --adjust-vma=0x%lx %s | tail -n +8",
                 (unsigned long) start_va, path);
        FILE *listing = popen(command, "r");
        char line[1024];
        while (listing != NULL && fgets(line, sizeof line, listing) != NULL) {
            print(print_stream, "%s", line);
        }
        if (listing != NULL) {
            pclose(listing);
        }
    }
    unlink(path);
    return NULL;
}
