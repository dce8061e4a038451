/* simd/x86/x86_util.h */
