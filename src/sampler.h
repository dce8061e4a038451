/* src/sampler.h */
