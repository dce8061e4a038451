/* src/model.h */
