/* simd/arm/arm_util.h */
