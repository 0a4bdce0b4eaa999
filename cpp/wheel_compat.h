// Included first in every C++ file of the extension (CMakeLists.txt: -include), on Linux with
// libstdc++ only. It keeps the wheel's manylinux tag independent of one libstdc++ symbol.
//
// GCC 12's libstdc++ (Debian 12, Ubuntu 22.04) added a second std::condition_variable::wait
// (GLIBCXX_3.4.30: the same wait, no longer noexcept, so that a pthread_cancel can unwind
// through it) and links new code against it. That single symbol lifts the wheel from
// manylinux_2_34 to manylinux_2_35 (auditwheel's policy for 2_34 stops at GLIBCXX_3.4.29).
// Binding to the original GLIBCXX_3.4.11 version, present in every libstdc++ since GCC 4.3,
// gives the same wait; the difference matters only to a thread cancelled inside it, and
// personcls never cancels threads.
#pragma once
#include <cstddef>  // defines __GLIBCXX__ when the standard library is libstdc++

#if defined(__GLIBCXX__) && defined(__linux__) && defined(__ELF__)
__asm__(".symver _ZNSt18condition_variable4waitERSt11unique_lockISt5mutexE,"
        "_ZNSt18condition_variable4waitERSt11unique_lockISt5mutexE@GLIBCXX_3.4.11");
#endif
