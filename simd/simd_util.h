/* simd/simd_util.h */
