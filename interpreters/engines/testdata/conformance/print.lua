print("hello world")
print("second line")
