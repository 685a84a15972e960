/*
 * TEST-ONLY shim, never shipped: Wine 8.0 (Debian 12) has no bcryptprimitives.dll, and
 * Rust's standard library imports ProcessPrng from it, so an unmodified Rust .exe does
 * not start under that Wine. .ci/windows builds this DLL with mingw and puts it beside
 * ai-worker.exe inside the test folders only; real Windows 10/11 has the real DLL.
 *
 * ProcessPrng(data, length) fills data with random bytes and always succeeds on
 * Windows. Here it forwards to advapi32's SystemFunction036 (RtlGenRandom), which
 * takes a 32-bit length, hence the loop.
 */
#include <windows.h>

BOOLEAN WINAPI SystemFunction036(PVOID buffer, ULONG length);

__declspec(dllexport) BOOL WINAPI ProcessPrng(PBYTE data, SIZE_T length)
{
    while (length > 0) {
        ULONG chunk = length > 0x40000000 ? 0x40000000 : (ULONG)length;
        if (!SystemFunction036(data, chunk)) {
            return FALSE;
        }
        data += chunk;
        length -= chunk;
    }
    return TRUE;
}
