/* tests/checkdsp/checkdsp.h */
